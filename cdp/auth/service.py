"""API keys: created once (the secret is shown once), stored as SHA-256, looked up by hash; listed, revoked,
rotated, optionally expiring, with the time each was last used.

Keys are 256-bit random, so a fast hash is enough (no password-style KDF needed: nothing to brute-force).
Nothing about a key is cached between requests: each one reads the key's row (one indexed SELECT of plain
columns), so a key revoked by any process is refused on the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, inspect, select
from sqlmodel import Session, col

from cdp.auth.models import ApiKey
from cdp.ids import utcnow

KEY_PREFIX = "cdp_"
LAST_USED_PRECISION = timedelta(minutes=1)
_K = inspect(ApiKey).local_table.c
# Built once, run as plain columns: authentication is on every request, and needs no ORM object.
_BY_HASH = select(_K.id, _K.name, _K.role, _K.prefix, _K.profile_id, _K.revoked_at, _K.expires_at,
                  _K.last_used_at).where(_K.key_hash == bindparam("key_hash"))  # fmt: skip


class AuthError(PermissionError):
    """Missing, malformed, unknown, revoked or expired credentials; the message says which."""


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: str
    profile_id: str | None = None  # set for data-subject tokens


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    session: Session,
    *,
    name: str,
    role: str,
    profile_id: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Returns the stored key and the secret, which is never stored and cannot be shown again."""
    if not name.strip():
        raise ValueError("api key name must not be empty")
    if expires_at is not None and expires_at <= utcnow():
        raise ValueError("api key expiry must be in the future")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip(),
        role=role,
        prefix=secret[:12],
        key_hash=_hash(secret),
        profile_id=profile_id,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, secret


def find_key(session: Session, secret: str) -> ApiKey | None:
    return session.execute(select(ApiKey).where(col(ApiKey.key_hash) == _hash(secret.strip()))).scalar_one_or_none()


def authenticate(session: Session, authorization: str | None) -> Principal:
    """The key's principal; records the use (the caller commits). Revoked and expired keys are refused."""
    if not authorization:
        raise AuthError("missing Authorization header: send 'Authorization: Bearer <api key>'")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthError("malformed Authorization header: expected 'Bearer <api key>'")
    key = session.connection().execute(_BY_HASH, {"key_hash": _hash(secret.strip())}).first()
    if key is None:
        raise AuthError("unknown API key")
    now = utcnow()
    if key.revoked_at is not None:
        raise AuthError(f"API key {key.prefix}... was revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC")
    if key.expires_at is not None and key.expires_at <= now:
        raise AuthError(f"API key {key.prefix}... expired on {key.expires_at:%Y-%m-%d %H:%M} UTC")
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        used = _key(session, key.id)
        used.last_used_at = now
        session.add(used)
    return Principal(key.id, key.name, key.role, key.profile_id)


def list_api_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    query = select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id))
    if not include_revoked:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    return list(session.execute(query).scalars())


def _key(session: Session, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise AuthError(f"no API key with id {key_id}")
    return key


def revoke_api_key(session: Session, key_id: str) -> ApiKey:
    key = _key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
    return key


def rotate_api_key(session: Session, key_id: str, *, expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new key with the old one's name, role and subject; the old one is revoked at once."""
    old = _key(session, key_id)
    if old.revoked_at is not None:
        raise AuthError(f"API key {key_id} is revoked; create a new one instead")
    new, secret = create_api_key(
        session, name=old.name, role=old.role, profile_id=old.profile_id, expires_at=expires_at or old.expires_at
    )
    revoke_api_key(session, key_id)
    return new, secret


def demo_admin_key(session: Session, path: Path) -> str:
    """The demo's admin key: the one kept in `path` (0600) while it is valid, else a new one written there."""
    if path.exists():
        secret = path.read_text().strip()
        key = find_key(session, secret)
        if key is not None and key.revoked_at is None and (key.expires_at is None or key.expires_at > utcnow()):
            return secret
    _, secret = create_api_key(session, name="demo admin", role="admin")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(secret + "\n")
    return secret
