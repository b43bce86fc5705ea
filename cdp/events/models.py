"""Events (orders, carts, page views, tickets, reviews...): structured non-personal columns in the clear for
analytics (type, time, amounts), everything else in one encrypted JSON value."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow


class Event(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("source", "source_event_id", name="uq_event_source_id"),
        # A customer's events newest first, a page at a time (keyset on occurred_at, id): read from the index in
        # order instead of sorting every event of the customer. It also serves every look-up by profile_id.
        Index("ix_event_profile_time", "profile_id", "occurred_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    profile_id: str = Field(foreign_key="profile.id", max_length=36)
    source: str = Field(max_length=64)
    source_event_id: str = Field(max_length=200)
    # No index on type alone: a handful of values, and without statistics SQLite chose it over
    # ix_event_profile_time for "these customers' orders", scanning every order in the store per ingest batch.
    type: str = Field(max_length=32)
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    utc_offset_minutes: int = 0  # the customer's local offset when it happened (campaign timing)
    # indexed for the trigger planner, which reads new events after a (received_at, id) cursor
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    amount_minor: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    base_amount_minor: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    base_currency: str | None = Field(default=None, max_length=3)
    properties_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Free text (ticket subject/body, review text) with detected entities replaced by their type, as JSON
    # {"body": "call me on <PHONE_NUMBER>"}, for analytics. Encrypted too: without NER, addresses and names the
    # event does not carry survive redaction (docs/pii-ingest.md).
    redacted_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
