"""Computed traits: one row per customer (merge-group root).

Coarse, bounded values that segments filter on in SQL stay in plaintext (scores 1-5, lifecycle stage, order
count, country / language codes, UTC offset, currency, birth month, acquisition channel and month); exact
amounts, dates and predictions are one encrypted JSON value under the customer's data key, so erasure
shreds them with everything else (docs/marketing.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow


class ComputedTrait(SQLModel, table=True):
    __tablename__ = "computed_trait"

    profile_id: str = Field(foreign_key="profile.id", primary_key=True, max_length=36)
    computed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    order_count: int = Field(default=0, index=True)
    r_score: int | None = Field(default=None, index=True)
    f_score: int | None = Field(default=None, index=True)
    m_score: int | None = Field(default=None, index=True)
    clv_tier: int | None = Field(default=None, index=True)  # quintile of predicted 12-month CLV
    lifecycle_stage: str | None = Field(default=None, max_length=16, index=True)
    country: str | None = Field(default=None, max_length=2, index=True)
    language: str | None = Field(default=None, max_length=8, index=True)
    # The time zone's current UTC offset: an IANA name (Europe/Berlin) names a city, so it stays encrypted.
    utc_offset_minutes: int | None = Field(default=None, index=True)
    currency: str | None = Field(default=None, max_length=3)
    birth_month: int | None = Field(default=None)
    channel: str | None = Field(default=None, max_length=64)  # source of the first order
    cohort_month: str | None = Field(default=None, max_length=7)  # YYYY-MM of the first order
    values_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class TraitModel(SQLModel, table=True):
    """The fitted population model of one full computation: quintile breakpoints and BG/NBD + Gamma-Gamma
    parameters, used to score customers incrementally between full runs. Aggregate numbers, no personal data."""

    __tablename__ = "trait_model"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    fitted_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    customers: int
    parameters: str = Field(sa_column=Column(Text, nullable=False))  # JSON


class TraitRefresh(SQLModel, table=True):
    """A customer whose computed traits wait for a refresh: marked by an import's batches (a customer touched by
    many batches is refreshed once), drained at the end of the import and by `cdp worker`. No foreign key: an
    erased profile's mark is dropped by the next drain, which skips customers that are not active."""

    __tablename__ = "trait_refresh"

    profile_id: str = Field(primary_key=True, max_length=36)
    # Bumped by every batch that marks the customer again: a drain deletes a mark only if it is still the one it
    # read, so a batch committed after the drain gathered the customer's events is refreshed by the next drain.
    marks: int = Field(default=1)
