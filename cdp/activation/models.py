"""The due-time table the worker polls, and the planner's place in the event stream."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow

JOB_STATUSES = ("pending", "sent", "skipped")


def _utc(nullable: bool, **kw) -> Column:  # noqa: ANN003
    return Column(UTCDateTime(), nullable=nullable, **kw)


class TriggerJob(SQLModel, table=True):
    """One trigger decision to take at `due_at` for one customer. `key` makes planning idempotent
    (abandoned_cart:<cart event id>, birthday:<profile>:<date>, win_back:<profile>, review_request:<order id>).
    A worker claims a job by setting `leased_until`; a job whose worker died returns when the lease runs out."""

    __tablename__ = "trigger_job"
    __table_args__ = (Index("ix_trigger_job_due", "status", "due_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    key: str = Field(max_length=120, unique=True)
    trigger: str = Field(max_length=32)
    purpose: str = Field(max_length=64)
    profile_id: str = Field(max_length=36, index=True)
    event_id: str | None = Field(default=None, max_length=36)  # the cart, order or activity that planned it
    due_at: datetime = Field(sa_column=_utc(False))
    status: str = Field(default="pending", max_length=16)
    leased_until: datetime | None = Field(default=None, sa_column=_utc(True))
    attempts: int = 0
    outcome: str | None = Field(default=None, max_length=200)  # why it was skipped (no personal value)
    decided_at: datetime | None = Field(default=None, sa_column=_utc(True, index=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))


class PlannerCursor(SQLModel, table=True):
    """How far the planner has read the events table (received_at, id), per planner."""

    __tablename__ = "planner_cursor"

    name: str = Field(primary_key=True, max_length=32)
    received_at: datetime = Field(sa_column=_utc(False))
    event_id: str = Field(max_length=36)
