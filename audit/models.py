"""The `audit_entry` table.

An entry records *that* personal data was read, changed or refused, never the data itself: it holds ids
(actor, subject profile ids), data-category names, a hash of the query document and an outcome. Nothing in
it is a personal value, so the log can be exported to auditors and kept longer than the data it describes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from audit.canonical import loads_list, to_record

# 64-bit on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the rowid (same 64 bits, fastest scans).
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that only accepts aware datetimes and always returns aware UTC ones.

    SQLite has no time-zone type and hands back naive values; this makes both backends behave alike.
    Migrations can use the plain `sa.DateTime(timezone=True)`: the decoration is Python-side only.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AuditEntry(SQLModel, table=True):
    """One audited operation; a link of the hash chain.

    `seq` is assigned by `audit.append` (last seq + 1, from 1) and is the chain order. `subject_ids` and
    `categories` hold JSON arrays as text (compact separators, sorted, de-duplicated) so that the stored
    bytes are exactly what the hash covers; use `subject_id_list` / `category_list` for Python lists.
    Personal values never go here: only ids, category names, hashes and short non-personal strings.
    """

    __tablename__ = "audit_entry"

    seq: int = Field(sa_type=SEQ_TYPE, primary_key=True, sa_column_kwargs={"autoincrement": False})
    id: str = Field(max_length=36, unique=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=200, index=True)
    role: str = Field(max_length=100)
    purpose: str = Field(max_length=200, index=True)
    operation: str = Field(max_length=200)
    document_hash: str = Field(max_length=64)
    subject_ids: str = Field(sa_type=Text, default="[]")
    categories: str = Field(sa_type=Text, default="[]")
    outcome: str = Field(max_length=32)
    detail: str = Field(default="", max_length=500)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)

    @property
    def subject_id_list(self) -> list[str]:
        return loads_list(self.subject_ids)

    @property
    def category_list(self) -> list[str]:
        return loads_list(self.categories)

    def as_record(self) -> dict[str, Any]:
        """JSON-ready dict of all fields (lists parsed, time in ISO 8601 UTC), as `export_jsonl` writes."""
        return to_record(self.model_dump())
