"""Signed checkpoints of the chain head, so that cutting entries off the end of the log is detectable.

A hash chain proves that no entry was changed, removed from the middle or reordered, but an empty or shortened
log is a valid chain too. A checkpoint records the head (seq, which is also the entry count, and entry hash) at
a time, with an HMAC-SHA256 under a key the data database never holds. Stored where the data database's owner
cannot rewrite it, the newest valid checkpoint is the anchor `verify` compares with: a log that ends before it,
or holds another entry at its seq, has lost its tail.

This module only signs and checks; where checkpoints are kept, and under which key, is the caller's choice.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from audit.canonical import GENESIS_HASH, iso_utc


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # the head's seq: entries 1..seq exist (0 for an empty log)
    head_hash: str  # the head's entry_hash (GENESIS_HASH for an empty log)
    at: datetime  # when the head was read (aware)

    @property
    def anchor(self) -> tuple[int, str] | None:
        """The (seq, entry_hash) pair `verify` checks the log against; None for an empty log."""
        return (self.seq, self.head_hash) if self.seq else None

    def message(self) -> bytes:
        return f"cdp-audit-checkpoint\x1f{self.seq}\x1f{self.head_hash}\x1f{iso_utc(self.at)}".encode()


def empty_checkpoint(at: datetime) -> Checkpoint:
    return Checkpoint(0, GENESIS_HASH, at)


def sign(key: bytes, checkpoint: Checkpoint) -> str:
    """Hex HMAC-SHA256 of the checkpoint under `key`."""
    return hmac.new(key, checkpoint.message(), hashlib.sha256).hexdigest()


def is_authentic(key: bytes, checkpoint: Checkpoint, mac: str) -> bool:
    return hmac.compare_digest(sign(key, checkpoint), mac)
