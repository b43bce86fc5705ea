"""Destinations and their pending deliveries (tables keep their original dsr_ names).

One outbox for every kind of notice: erasure notices of data-subject requests and activation deliveries of
triggers. A delivery row holds ids only; an activation body is rendered at send time, after consent,
restriction and erasure are checked again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow

DELIVERY_STATUSES = ("pending", "delivered", "dead", "cancelled")  # dead: the dead-letter state


def _utc(nullable: bool, **kw) -> Column:  # noqa: ANN003
    return Column(UTCDateTime(), nullable=nullable, **kw)


class Destination(SQLModel, table=True):
    """A downstream system (an ESP, an ad platform, a messaging tool) that receives signed webhooks for one
    declared purpose; it is handed only the fields that purpose allows a `destination`."""

    __tablename__ = "dsr_destination"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=100, unique=True)
    url: str = Field(max_length=500)
    purpose: str = Field(default="data_subject_rights", max_length=64)
    # The shared HMAC secret, encrypted with a data key of the key store owned by the destination's id:
    # the data database alone never opens it, and deleting that key retires the secret everywhere.
    secret_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))


class OutboxDelivery(SQLModel, table=True):
    """One notice to one destination; retried with backoff until delivered, cancelled or dead-lettered."""

    __tablename__ = "dsr_outbox"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    destination_id: str = Field(foreign_key="dsr_destination.id", index=True, max_length=36)
    kind: str = Field(default="erasure", max_length=32)  # erasure | trigger
    request_id: str | None = Field(default=None, max_length=36)
    profile_id: str | None = Field(default=None, max_length=36)  # whose data a trigger delivery carries
    idempotency_key: str = Field(max_length=100, unique=True)
    payload: str = Field(sa_column=Column(Text(), nullable=False))  # JSON of ids only
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))
    leased_until: datetime | None = Field(default=None, sa_column=_utc(True))  # claimed by a worker until then
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_column=_utc(True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))
