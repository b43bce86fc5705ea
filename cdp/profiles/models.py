"""Profile traits: one encrypted value per (profile, trait name); the newest write wins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow


class Trait(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("profile_id", "name", name="uq_trait_profile_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    profile_id: str = Field(foreign_key="profile.id", index=True, max_length=36)
    name: str = Field(max_length=64)
    category: str = Field(max_length=64)
    value_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    source: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
