"""Application-made identifiers and timestamps: row ids are known before INSERT so they can be bound as
associated data of the row's ciphertexts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)
