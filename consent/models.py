"""The `consent_record` table: an append-only ledger, one row per answer a customer (or a signal) gave."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from audit.models import SEQ_TYPE, UTCDateTime


class ConsentRecord(SQLModel, table=True):
    """One consent event for (profile, purpose). Rows are never updated: the current state is the latest.

    `seq` is the insertion order, used to break ties between records with the same `recorded_at` (an import
    can carry historic times). `profile_id` is a plain string: consent knows nothing of the profile store.
    """

    __tablename__ = "consent_record"
    __table_args__ = (Index("ix_consent_record_profile_purpose_time", "profile_id", "purpose", "recorded_at"),)

    seq: int | None = Field(default=None, sa_type=SEQ_TYPE, primary_key=True)
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), max_length=36, unique=True)
    profile_id: str = Field(max_length=64)
    purpose: str = Field(max_length=200)
    status: str = Field(max_length=16)
    legal_basis: str = Field(max_length=32)
    jurisdiction: str = Field(max_length=8)
    source: str = Field(max_length=32)
    notice_version: str | None = Field(default=None, max_length=64)
    notice_text_hash: str | None = Field(default=None, max_length=64)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    actor: str | None = Field(default=None, max_length=200)
