"""API keys: only a SHA-256 of the secret is stored; the prefix identifies a key in logs and audits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=100)
    role: str = Field(max_length=32)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    # Set for data-subject tokens: the one profile this key may see.
    profile_id: str | None = Field(default=None, foreign_key="profile.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Updated at most once per LAST_USED_PRECISION, so authentication is not a write per request.
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
