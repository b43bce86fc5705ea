"""API keys: created once (the secret is shown once), stored as SHA-256, looked up by hash.

Keys are 256-bit random, so a fast hash is enough (no password-style KDF needed: nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.auth.models import ApiKey
from cdp.ids import utcnow

KEY_PREFIX = "cdp_"


class AuthError(PermissionError):
    """Missing, malformed, unknown or revoked credentials; the message says which."""


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: str
    profile_id: str | None = None  # set for data-subject tokens


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, *, name: str, role: str, profile_id: str | None = None) -> tuple[ApiKey, str]:
    """Returns the stored key and the secret, which is never stored and cannot be shown again."""
    if not name.strip():
        raise ValueError("api key name must not be empty")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name.strip(), role=role, prefix=secret[:12], key_hash=_hash(secret), profile_id=profile_id)
    session.add(key)
    session.flush()
    return key, secret


def authenticate(session: Session, authorization: str | None) -> Principal:
    if not authorization:
        raise AuthError("missing Authorization header: send 'Authorization: Bearer <api key>'")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthError("malformed Authorization header: expected 'Bearer <api key>'")
    key = session.execute(select(ApiKey).where(col(ApiKey.key_hash) == _hash(secret.strip()))).scalar_one_or_none()
    if key is None:
        raise AuthError("unknown API key")
    if key.revoked_at is not None:
        raise AuthError("API key revoked")
    return Principal(key.id, key.name, key.role, key.profile_id)


def revoke_api_key(session: Session, key_id: str) -> None:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise AuthError(f"no API key with id {key_id}")
    key.revoked_at = utcnow()
    session.add(key)
