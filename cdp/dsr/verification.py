"""Identity verification: a one-time code to the email on file; on success, a data-subject token.

The code (8 digits) is stored only as a keyed hash (the blind indexer's HMAC, whose key lives in the key
store), so a copy of the data database does not reveal live codes. It expires and allows few attempts.
"""

from __future__ import annotations

import hmac
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import Session, col

from cdp.access.gate import AccessContext
from cdp.auth.service import create_api_key
from cdp.categories import identifier_category
from cdp.dsr.common import DsrError, audit_dsr, get_request, require_dsr_purpose, system_access
from cdp.dsr.mailer import send_code
from cdp.dsr.models import DsrRequest, DsrVerification
from cdp.dsr.settings import DsrSettings, get_dsr_settings
from cdp.ids import utcnow
from cdp.profiles import service as profiles
from cdp.store import Store

CODE_DIGITS = 8


@dataclass(frozen=True)
class Verified:
    request: DsrRequest
    token: str | None  # a data_subject API key scoped to the subject's profile, shown once
    refusal: str | None = None  # why the code was not accepted; the attempt still counts, so commit first

    def accepted(self) -> Verified:
        """This result, or DsrError with the reason (raise it after the attempt was committed)."""
        if self.refusal is not None:
            raise DsrError(self.refusal)
        return self


def _code_hash(store: Store, verification_id: str, code: str) -> bytes:
    return store.indexer.index("dsr-verification-code", f"{verification_id}:{code}")


def send_verification(session: Session, store: Store, request_id: str, settings: DsrSettings | None = None) -> bool:
    """Email a fresh code to the subject's address on file. False when there is none (a person must verify
    by other means). Earlier codes of the request stop working. The platform reads the address for the
    subject's own benefit, so this runs as the system principal, audited."""
    settings = settings or get_dsr_settings()
    access = system_access()
    request = get_request(session, access, request_id)
    if request.status != "received" or request.profile_id is None:
        return False
    group = profiles.customer(session, access, request.profile_id)
    access.require(identifier_category("email"))
    emails = [i.value for i in profiles.holdings(session, store, access, group, action="read")[0] if i.kind == "email"]
    if not emails:
        return False
    session.execute(
        update(DsrVerification)
        .where(col(DsrVerification.request_id) == request_id, col(DsrVerification.used_at).is_(None))
        .values(used_at=utcnow())
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    verification = DsrVerification(
        request_id=request_id,
        code_hash=b"",
        expires_at=utcnow() + timedelta(minutes=settings.verification_ttl_minutes),
    )
    verification.code_hash = _code_hash(store, verification.id, code)
    session.add(verification)
    audit_dsr(
        session,
        access,
        request_id,
        "verification_sent",
        subject_ids=group.member_ids,
        categories=[identifier_category("email")],
        document={"verification": verification.id},
    )
    try:
        send_code(settings, emails[0], code, request_id, settings.verification_ttl_minutes)
    except (OSError, smtplib.SMTPException):
        raise DsrError("the verification email could not be sent; try again later") from None
    return True


def verify_code(session: Session, store: Store, access: AccessContext, request_id: str, code: str) -> Verified:
    """Check a code; on success the request is verified and a data-subject token is issued. Whoever holds the
    request id and the code proves to be the subject (the page or app relays them): the request is read as the
    platform, and a wrong guess counts against the code's attempts whatever the door."""
    require_dsr_purpose(access)
    settings = get_dsr_settings()
    request = get_request(session, system_access(), request_id)
    verification = session.execute(
        select(DsrVerification)
        .where(col(DsrVerification.request_id) == request_id, col(DsrVerification.used_at).is_(None))
        .order_by(col(DsrVerification.created_at).desc())
    ).scalar_one_or_none()
    if request.status != "received" or verification is None:
        raise DsrError("this request has no code waiting for verification")
    if verification.expires_at < utcnow() or verification.attempts >= settings.verification_max_attempts:
        verification.used_at = utcnow()
        return Verified(request, None, "the code expired or too many wrong attempts: ask for a new one")
    verification.attempts += 1
    if not hmac.compare_digest(_code_hash(store, verification.id, code.strip()), verification.code_hash):
        left = settings.verification_max_attempts - verification.attempts
        return Verified(request, None, f"wrong code ({left} attempt(s) left)")
    verification.used_at = request.verified_at = utcnow()
    request.status, request.verification_method = "verified", "email_code"
    key, secret = create_api_key(session, name=f"dsr {request.id}", role="data_subject", profile_id=request.profile_id)
    audit_dsr(
        session,
        access,
        request.id,
        "verified",
        subject_ids=[request.profile_id] if request.profile_id else [],
        categories=[],
        document={"method": "email_code", "token": key.id},
    )
    return Verified(request, secret)
