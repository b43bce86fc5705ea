"""Staff accounts of the compliance console: a password (argon2id, argon2-cffi) and a TOTP second factor
(RFC 6238, pyotp), and server-side sign-in sessions.

A session is named by a random id kept only in the staff member's signed cookie; the table stores the SHA-256
of that id, so a copy of the database cannot be replayed as a cookie. Signing out or expiry ends it here, not
only in the browser.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, select
from sqlmodel import Field, Session, SQLModel, col

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow
from cdp.store import Store

STAFF_ROLES = ("compliance_officer", "admin")
SESSION_LIFETIME = timedelta(hours=8)
MAX_FAILED_ATTEMPTS = 5  # then the account is locked for LOCKOUT: guessing 6-digit codes online stays hopeless
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
ISSUER = "cdp console"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so a wrong email costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class StaffAccount(SQLModel, table=True):
    __tablename__ = "staff_account"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    email: str = Field(max_length=254, unique=True)  # staff work address: an account name, not customer data
    role: str = Field(max_length=32)
    password_hash: str = Field(max_length=200)
    totp_secret: str = Field(max_length=64)
    last_totp_step: int = 0  # a code is accepted once: replaying it within its 30 s window fails
    failed_attempts: int = 0  # consecutive failed sign-ins; MAX_FAILED_ATTEMPTS locks the account for a while
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class StaffSession(SQLModel, table=True):
    __tablename__ = "staff_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    staff_id: str = Field(foreign_key="staff_account.id", index=True, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class StaffError(ValueError):
    """A staff account cannot be created as asked; the message names the field and the rule."""


class SignInFailed(PermissionError):
    """Email, password or code wrong: one message for all three, so the form does not say which."""

    def __init__(self) -> None:
        super().__init__("sign-in failed: check your email, password and authenticator code")


@dataclass(frozen=True)
class NewStaff:
    account: StaffAccount
    totp_secret: str
    otpauth_uri: str  # for the authenticator app's QR code; shown once


def _normalize_email(email: str) -> str:
    return email.strip().lower()


def create_staff(session: Session, *, email: str, role: str, password: str) -> NewStaff:
    address = _normalize_email(email)
    if "@" not in address or len(address) > 254:
        raise StaffError("email: expected a work email address")
    if role not in STAFF_ROLES:
        raise StaffError(f"role: the console is for {' or '.join(STAFF_ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if session.execute(select(col(StaffAccount.id)).where(col(StaffAccount.email) == address)).first():
        raise StaffError("email: a staff account with this address exists")
    secret = pyotp.random_base32()
    account = StaffAccount(email=address, role=role, password_hash=_hasher.hash(password), totp_secret=secret)
    session.add(account)
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=address, issuer_name=ISSUER)
    return NewStaff(account, secret, uri)


def check_credentials(session: Session, email: str, password: str, code: str) -> StaffAccount:
    """The account if the password and a fresh TOTP code match; SignInFailed otherwise. A failure against a
    known account is counted on it: the door commits the session even so (the console's sign-in does), or the
    count towards the lockout is lost."""
    account = session.execute(
        select(StaffAccount).where(col(StaffAccount.email) == _normalize_email(email))
    ).scalar_one_or_none()
    try:
        _hasher.verify(account.password_hash if account else _DUMMY_HASH, password)
        password_ok = True
    except (VerificationError, InvalidHashError):
        password_ok = False
    if account is None or account.disabled_at is not None:
        raise SignInFailed()
    now = utcnow()
    step = _totp_step(account.totp_secret, code.strip())
    locked = account.locked_until is not None and account.locked_until > now
    if locked or not password_ok or step is None or step <= account.last_totp_step:
        if not locked:
            account.failed_attempts += 1
            if account.failed_attempts >= MAX_FAILED_ATTEMPTS:
                account.failed_attempts, account.locked_until = 0, now + LOCKOUT
        raise SignInFailed()
    account.last_totp_step, account.failed_attempts, account.locked_until = step, 0, None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account


def _totp_step(secret: str, code: str) -> int | None:
    """The 30-second step the code belongs to (the current one or one either side, for clock drift)."""
    totp, now = pyotp.TOTP(secret), utcnow()
    for drift in (0, -1, 1):
        moment = now + timedelta(seconds=30 * drift)
        if secrets.compare_digest(totp.at(moment), code):
            return int(moment.timestamp()) // 30
    return None


def cookie_signing_key(store: Store) -> bytes:
    """The key web cookies are signed with: CDP_WEB_SECRET, or else one derived from the key store's HMAC keys
    (every process of a deployment agrees on it, and a copy of the data database does not reveal it)."""
    configured = os.environ.get("CDP_WEB_SECRET", "")
    return configured.encode() if configured else store.indexer.index("web-cookie-signing", "v1")


def _hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(session: Session, account: StaffAccount) -> str:
    """A fresh session id (never one the browser brought along: no fixation)."""
    session_id = secrets.token_urlsafe(32)
    session.add(StaffSession(id_hash=_hash_id(session_id), staff_id=account.id, expires_at=utcnow() + SESSION_LIFETIME))
    session.flush()
    return session_id


def session_account(session: Session, session_id: str) -> StaffAccount | None:
    row = session.get(StaffSession, _hash_id(session_id))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    account = session.get(StaffAccount, row.staff_id)
    return account if account is not None and account.disabled_at is None else None


def end_session(session: Session, session_id: str) -> None:
    row = session.get(StaffSession, _hash_id(session_id))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
