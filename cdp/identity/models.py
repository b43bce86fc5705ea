"""Profiles, their identifiers (blind index + ciphertext), merge links and review items."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow


def _utc_column(**kw) -> Column:  # noqa: ANN003
    return Column(UTCDateTime(), **kw)


class Profile(SQLModel, table=True):
    """One customer as first seen. Merging links profiles (`merged_into`), never rewrites their rows."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False, index=True))
    merged_into: str | None = Field(default=None, foreign_key="profile.id", index=True, max_length=36)
    # Jurisdiction of the profile (EU, US-CA, CN, ...): drives consent defaults in SQL; not personal on its own.
    jurisdiction: str = Field(default="OTHER", max_length=16)
    status: str = Field(default="active", max_length=16)  # active | restricted | erased


class Identity(SQLModel, table=True):
    """An identifier of a profile. (kind, blind_index) is unique: one identifier value, one profile."""

    __table_args__ = (UniqueConstraint("kind", "blind_index", name="uq_identity_kind_blind_index"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    profile_id: str = Field(foreign_key="profile.id", index=True, max_length=36)
    kind: str = Field(max_length=32)
    blind_index: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    value_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    source: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))


class MergeRecord(SQLModel, table=True):
    """Why two profiles became one: which identifier, from which event, when. Undone by unmerge."""

    __tablename__ = "merge_record"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    survivor_id: str = Field(foreign_key="profile.id", index=True, max_length=36)
    absorbed_id: str = Field(foreign_key="profile.id", index=True, max_length=36)
    identifier_kind: str = Field(max_length=32)
    identity_id: str | None = Field(default=None, max_length=36)
    event_id: str | None = Field(default=None, max_length=36)
    actor: str = Field(default="resolver", max_length=64)
    merged_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    unmerged_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class ReviewItem(SQLModel, table=True):
    """A merge the rules forbade: kept apart for a person to decide. Holds ids and reasons, no values."""

    __tablename__ = "review_item"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    profile_ids: str = Field(max_length=400)  # comma-separated profile ids
    reason: str = Field(max_length=200)
    identifier_kind: str = Field(max_length=32)
    event_id: str | None = Field(default=None, max_length=36)
    status: str = Field(default="open", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
