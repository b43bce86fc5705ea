"""Data-subject rights: requests and their deadlines, identity verification, access/portability export,
erasure by crypto-shredding, restriction, objection and rectification (docs/dsr.md)."""
