"""Write keys of event sources (Segment-spec intake): one per source, mapped to a role and a purpose.

Like API keys, only a SHA-256 of the 256-bit random key is stored; the key is shown once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import Column, select
from sqlmodel import Field, Session, SQLModel, col

from audit.models import UTCDateTime
from cdp.access.gate import AccessContext
from cdp.auth.service import AuthError, Principal
from cdp.ids import new_id, utcnow

WRITE_KEY_PREFIX = "cdpw_"
SOURCE_CATEGORY = "system.source"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,40}$")


class IntakeSource(SQLModel, table=True):
    __tablename__ = "intake_source"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=41, unique=True)
    role: str = Field(max_length=32)
    purpose: str = Field(max_length=64)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))

    @property
    def event_source(self) -> str:
        """The `source` of the events it sends (with messageId, the idempotency key)."""
        return f"segment.{self.name}"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_source(
    session: Session, access: AccessContext, *, name: str, role: str, purpose: str, roles: set[str]
) -> tuple[IntakeSource, str]:
    """Register a source; returns it and its write key, which is never stored and cannot be shown again."""
    access.forbid_subject_tokens()
    access.require(SOURCE_CATEGORY, action="write", field="source")
    if not _NAME.match(name):
        raise ValueError("source name: lower-case letters, digits, '-' or '_', at most 41 characters")
    if role not in roles:
        raise ValueError(f"source role: unknown role; roles: {', '.join(sorted(roles))}")
    access.purposes.get(purpose)  # UnknownPurpose names the valid ones
    key = WRITE_KEY_PREFIX + secrets.token_urlsafe(32)
    source = IntakeSource(name=name, role=role, purpose=purpose, prefix=key[:12], key_hash=_hash(key))
    session.add(source)
    session.flush()
    return source, key


def authenticate_write_key(session: Session, write_key: str) -> tuple[IntakeSource, AccessContext]:
    """The source a write key belongs to and the access it writes with (its role, for its purpose)."""
    if not write_key:
        raise AuthError("missing write key: send it as the HTTP basic-auth user name")
    source = session.execute(
        select(IntakeSource).where(col(IntakeSource.key_hash) == _hash(write_key))
    ).scalar_one_or_none()
    if source is None:
        raise AuthError("unknown write key")
    if source.revoked_at is not None:
        raise AuthError("write key revoked")
    principal = Principal(f"source:{source.id}", source.name, source.role)
    return source, AccessContext.for_principal(principal, source.purpose)
