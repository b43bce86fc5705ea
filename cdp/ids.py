"""Application-made identifiers and timestamps: row ids are known before INSERT so they can be bound as
associated data of the row's ciphertexts."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime


def new_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Time-ordered ids make every
    insert land at the right edge of the primary-key B-tree, so ingest cost does not grow with the table
    (random v4 ids touch a random leaf page per row); 74 random bits keep ids unguessable."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def utcnow() -> datetime:
    return datetime.now(UTC)
