"""Events (orders, carts, page views, tickets, reviews...): structured non-personal columns in the clear for
analytics (type, time, amounts), everything else in one encrypted JSON value.

On PostgreSQL the event table is partitioned by month of `occurred_at` (cdp.events.partitions), so retention
drops a whole expired month instead of deleting its rows. A partitioned table's primary key and unique
constraints must contain the partition key: the primary key is (id, occurred_at), and the idempotency key
(source, source_event_id) lives in its own small table, `event_key`, one row per event. SQLite keeps one table
with the same columns and keys.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, CursorResult, Index, LargeBinary, delete, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, Session, SQLModel, col

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow


class Event(SQLModel, table=True):
    __table_args__ = (
        # A customer's events newest first, a page at a time (keyset on occurred_at, id): read from the index in
        # order instead of sorting every event of the customer. It also serves every look-up by profile_id.
        Index("ix_event_profile_time", "profile_id", "occurred_at", "id"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    # The application makes ids (UUIDs), so id alone is unique; occurred_at is in the key for the partitions.
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    profile_id: str = Field(foreign_key="profile.id", max_length=36)
    source: str = Field(max_length=64)
    source_event_id: str = Field(max_length=200)
    # No index on type alone: a handful of values, and without statistics SQLite chose it over
    # ix_event_profile_time for "these customers' orders", scanning every order in the store per ingest batch.
    type: str = Field(max_length=32)
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True, index=True))
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


class EventKey(SQLModel, table=True):
    """The idempotency key of each stored event: a re-sent event (same source and source_event_id) is found
    here and stored once; two writers storing it at the same moment collide on the primary key, and the loser's
    retry finds the winner's row. Deleted with its event (`delete_events`)."""

    __tablename__ = "event_key"

    source: str = Field(primary_key=True, max_length=64)
    source_event_id: str = Field(primary_key=True, max_length=200)
    event_id: str = Field(max_length=36, unique=True)
    profile_id: str = Field(foreign_key="profile.id", max_length=36)


def event_by_id(session: Session, event_id: str) -> Event | None:
    """One event by id alone (the primary key also holds occurred_at; on PostgreSQL this probes each month's
    primary-key index)."""
    return session.execute(select(Event).where(col(Event.id) == event_id)).scalar_one_or_none()


def delete_event_keys(session: Session, *where: ColumnElement[bool]) -> None:
    """Delete the idempotency keys of the events matching `where` (before the events themselves go)."""
    session.execute(delete(EventKey).where(col(EventKey.event_id).in_(select(col(Event.id)).where(*where))))


def delete_events(session: Session, *where: ColumnElement[bool]) -> int:
    """Delete the events matching `where` and their idempotency keys; returns how many events went."""
    delete_event_keys(session, *where)
    result = session.execute(delete(Event).where(*where))
    assert isinstance(result, CursorResult)  # what a DELETE returns
    return result.rowcount
