"""Tables of data-subject requests. None of them holds a personal value: subjects are named by profile id
or by the blind index of the identifier they gave; codes are stored as keyed hashes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow

KINDS = ("access", "portability", "rectification", "erasure", "restriction", "objection", "shop_redaction")
STATUSES = ("received", "verified", "in_progress", "completed", "refused")


def _utc(nullable: bool, **kw) -> Column:  # noqa: ANN003
    return Column(UTCDateTime(), nullable=nullable, **kw)


class DsrRequest(SQLModel, table=True):
    """One request: received -> verified -> in_progress -> completed | refused (with a reason)."""

    __tablename__ = "dsr_request"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: str = Field(max_length=32, index=True)
    status: str = Field(default="received", max_length=16, index=True)
    # Root profile when the request was made; None when no profile holds the identifier given.
    profile_id: str | None = Field(default=None, foreign_key="profile.id", index=True, max_length=36)
    subject_kind: str | None = Field(default=None, max_length=32)
    subject_index: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32), nullable=True))
    jurisdiction: str = Field(max_length=16)
    source: str = Field(max_length=32)  # graphql | cli | shopify
    requested_by: str = Field(max_length=200)  # principal key id, never a name
    external_ref: str | None = Field(default=None, max_length=200, unique=True)  # e.g. shopify:<webhook id>
    shop_domain: str | None = Field(default=None, max_length=255)
    received_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))
    due_on: date = Field(sa_column=Column(Date(), nullable=False, index=True))
    original_due_on: date = Field(sa_column=Column(Date(), nullable=False))
    extension_reason: str | None = Field(default=None, max_length=500)
    extended_at: datetime | None = Field(default=None, sa_column=_utc(True))
    verified_at: datetime | None = Field(default=None, sa_column=_utc(True))
    verification_method: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = Field(default=None, sa_column=_utc(True))
    refusal_reason: str | None = Field(default=None, max_length=500)
    certificate: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))  # JSON, erasure


class DsrVerification(SQLModel, table=True):
    """A one-time code sent to the email on file: only its keyed hash is kept; expiring, limited attempts."""

    __tablename__ = "dsr_verification"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = Field(foreign_key="dsr_request.id", index=True, max_length=36)
    code_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))
    expires_at: datetime = Field(sa_column=_utc(False))
    attempts: int = 0
    used_at: datetime | None = Field(default=None, sa_column=_utc(True))


class Suppression(SQLModel, table=True):
    """An erased subject's identifier, as its keyed hash (the blind index), so it is never ingested again."""

    __tablename__ = "suppression"
    __table_args__ = (UniqueConstraint("kind", "blind_index", name="uq_suppression_kind_blind_index"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: str = Field(max_length=32)
    blind_index: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    request_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))


class LegalHold(SQLModel, table=True):
    """Rows an erasure kept because a law requires them (e.g. orders for tax law), with the basis."""

    __tablename__ = "legal_hold"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    profile_id: str = Field(foreign_key="profile.id", index=True, max_length=36)
    request_id: str | None = Field(default=None, max_length=36)
    event_type: str = Field(max_length=32)
    rows: int
    basis: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(False))
