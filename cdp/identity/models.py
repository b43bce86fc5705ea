"""Profiles, their identifiers (blind index + ciphertext), merge links and review items."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow


def _utc_column(**kw) -> Column:  # noqa: ANN003
    return Column(UTCDateTime(), **kw)


class Profile(SQLModel, table=True):
    """One customer as first seen. Merging links profiles (`merged_into`), never rewrites their rows."""

    # Customers (roots: merged_into IS NULL) a page at a time in id order, read from the index in order instead of
    # sorting every root; the same index finds the profiles merged into a group (merged_into IN ...).
    __table_args__ = (Index("ix_profile_merged_into_id", "merged_into", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False, index=True))
    merged_into: str | None = Field(default=None, foreign_key="profile.id", max_length=36)
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
    # Records that matched a profile only through this value while bringing a strong identifier of their own:
    # past policies/identity.yaml's shared_values limit the value is suspicious and stops linking.
    unrelated_links: int = Field(default=0)


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
    reason: str | None = Field(default=None, max_length=500)  # a person's merge states why
    merged_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    unmerged_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class ReviewItem(SQLModel, table=True):
    """A merge for a person to decide: one the rules forbade, or a probabilistic suggestion. Holds ids,
    reasons, the match probability and per-field match weights; never values. One item per set of profiles:
    once asked (whatever the answer), the same profiles are not asked about again."""

    __tablename__ = "review_item"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    profile_ids: str = Field(max_length=400, index=True)  # comma-separated profile ids, sorted
    reason: str = Field(max_length=200)
    identifier_kind: str = Field(max_length=32)
    event_id: str | None = Field(default=None, max_length=36)
    status: str = Field(default="open", max_length=16)  # open | merged | kept_apart | dismissed
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    origin: str = Field(default="rule", max_length=16)  # rule | suggestion
    probability: float | None = Field(default=None)
    explanation: str | None = Field(default=None, max_length=2000)  # JSON: field -> match weight, comparison level
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    decision_reason: str | None = Field(default=None, max_length=500)


class KeepApart(SQLModel, table=True):
    """A person's decision that two profiles are different customers (an unmerge, or a review item answered
    "keep apart"): no automatic merge joins their groups again; a bridging record opens a review item."""

    __tablename__ = "keep_apart"
    __table_args__ = (UniqueConstraint("profile_a", "profile_b", name="uq_keep_apart_pair"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    profile_a: str = Field(foreign_key="profile.id", index=True, max_length=36)  # profile_a < profile_b
    profile_b: str = Field(foreign_key="profile.id", index=True, max_length=36)
    decided_by: str = Field(max_length=64)
    reason: str = Field(max_length=500)
    review_item_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
