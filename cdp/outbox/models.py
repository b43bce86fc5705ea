"""Destinations and their pending deliveries (tables keep their original dsr_ names)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow

KINDS = ("access", "portability", "rectification", "erasure", "restriction", "objection", "shop_redaction")
STATUSES = ("received", "verified", "in_progress", "completed", "refused")


def _utc(nullable: bool, **kw) -> Column:  # noqa: ANN003
    return Column(UTCDateTime(), nullable=nullable, **kw)


class Destination(SQLModel, table=True):
    """A downstream system told about erasures (an ESP, an ad platform) through signed webhooks."""

    __tablename__ = "dsr_destination"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=100, unique=True)
    url: str = Field(max_length=500)
    secret: str = Field(max_length=200)  # shared HMAC secret for the signature header
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))


class OutboxDelivery(SQLModel, table=True):
    """One notification to one destination; retried with backoff until delivered or given up."""

    __tablename__ = "dsr_outbox"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    destination_id: str = Field(foreign_key="dsr_destination.id", index=True, max_length=36)
    request_id: str | None = Field(default=None, max_length=36)
    idempotency_key: str = Field(max_length=100, unique=True)
    payload: str = Field(sa_column=Column(Text(), nullable=False))  # JSON of ids only
    status: str = Field(default="pending", max_length=16, index=True)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_column=_utc(True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))
