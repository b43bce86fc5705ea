"""Compliance services: the record of processing (ROPA), trait lineage, the breach register and the
compliance records the console lists (audit log, PII findings, review items, API keys)."""
