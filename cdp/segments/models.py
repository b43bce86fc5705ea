"""Segment definitions (versioned: a change is a new row) and membership with entry and exit times."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow


class Segment(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("name", "version", name="uq_segment_name_version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=100, index=True)
    version: int
    description: str = Field(default="", max_length=500)
    definition: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON of the condition
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    evaluated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class SegmentMembership(SQLModel, table=True):
    """A customer's stay in a segment (by name, across versions): open while exited_at is null."""

    __tablename__ = "segment_membership"
    __table_args__ = (Index("ix_segment_membership_open", "segment_name", "exited_at", "profile_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    segment_name: str = Field(max_length=100)
    profile_id: str = Field(foreign_key="profile.id", index=True, max_length=36)
    entered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    exited_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
