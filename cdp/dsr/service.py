"""The life of a data-subject request: created (by the subject, an officer or a platform webhook), verified,
executed or refused, within its deadline. GraphQL, the CLI and webhooks all call these functions.

Every function works in the caller's session and writes its audit entry there; the door commits. Staff steps
(verify by other means, extend, refuse, run, list) need the acting role's grant on the request queue
(`QUEUE_CATEGORY`) for the declared purpose; a data-subject token acts on its own requests only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.access.gate import AccessContext
from cdp.dsr import deadlines, erase, export, rights
from cdp.dsr.common import DsrError, audit_dsr, get_request, require_dsr_purpose, require_staff, subject_group
from cdp.dsr.models import KINDS, STATUSES, DsrRequest
from cdp.identity.groups import load_group
from cdp.identity.models import Profile
from cdp.identity.resolve import holder_of, normalize_identifiers, root_of
from cdp.ids import utcnow
from cdp.store import Store
from consent.jurisdiction import jurisdiction_for

OPEN_STATUSES = ("received", "verified", "in_progress")


@dataclass(frozen=True)
class SubjectIdentifier:
    kind: str
    value: str
    country: str | None = None


@dataclass
class Outcome:
    """What executing a request produced: an archive (access, portability), a certificate (erasure) or a
    summary of what changed. The archive is a file positioned at its start (see `export.export_archive`): the
    door reads it out after the commit and closes it."""

    request: DsrRequest
    archive: IO[bytes] | None = None
    certificate: dict | None = None
    summary: dict | None = None

    @property
    def finished(self) -> bool:
        """False after the first step of an erasure: run `execute` again (a new transaction) to finish it."""
        return self.request.status != "in_progress"


def create_request(
    session: Session,
    store: Store,
    access: AccessContext,
    *,
    kind: str,
    identifiers: Sequence[SubjectIdentifier] = (),
    profile_id: str | None = None,
    source: str,
    received_at: datetime | None = None,
    external_ref: str | None = None,
    shop_domain: str | None = None,
    dedupe_within: timedelta | None = None,
) -> DsrRequest:
    """Record a request. The answer is the same whether or not anyone holds the identifier (no probing
    who is a customer). Idempotent on `external_ref` (a webhook delivered twice is one request), and with
    `dedupe_within` on (kind, source, subject or shop) over that window (the same request re-sent under a
    new delivery id is still one request)."""
    require_dsr_purpose(access)
    if kind not in KINDS:
        raise DsrError(f"unknown request kind {kind!r}; expected one of {', '.join(KINDS)}")
    if external_ref is not None:
        existing = session.execute(
            select(DsrRequest).where(col(DsrRequest.external_ref) == external_ref)
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    subject_kind = subject_index = None
    for identifier in identifiers:  # the first identifier someone holds names the subject
        given = {identifier.kind: identifier.value}
        normalized, _ = normalize_identifiers(store.indexer, given, identifier.country)
        if not normalized or profile_id is not None:
            continue
        subject_kind, subject_index = normalized[0].kind, normalized[0].blind_index
        profile_id = holder_of(session, normalized[0])
    if dedupe_within is not None:
        same = select(DsrRequest).where(
            col(DsrRequest.kind) == kind,
            col(DsrRequest.source) == source,
            col(DsrRequest.received_at) >= utcnow() - dedupe_within,
        )
        if subject_index is not None:
            same = same.where(
                col(DsrRequest.subject_index) == subject_index, col(DsrRequest.subject_kind) == subject_kind
            )
        else:
            same = same.where(col(DsrRequest.subject_index).is_(None), col(DsrRequest.shop_domain) == shop_domain)
        existing = session.execute(same.order_by(col(DsrRequest.received_at)).limit(1)).scalar_one_or_none()
        if existing is not None:
            return existing
    if profile_id is not None:
        profile_id = root_of(session, profile_id)
        access.check_subject(load_group(session, profile_id).member_ids, action="write")
    root = session.get(Profile, profile_id) if profile_id else None
    country = next((i.country for i in identifiers if i.country), None)
    jurisdiction = root.jurisdiction if root is not None else jurisdiction_for(country)
    received = received_at or utcnow()
    due = deadlines.due_date(jurisdiction, received.date())
    request = DsrRequest(
        kind=kind,
        profile_id=profile_id,
        subject_kind=subject_kind,
        subject_index=subject_index,
        jurisdiction=jurisdiction,
        source=source,
        requested_by=access.principal.key_id,
        external_ref=external_ref,
        shop_domain=shop_domain,
        received_at=received,
        due_on=due,
        original_due_on=due,
    )
    session.add(request)
    session.flush()
    audit_dsr(
        session,
        access,
        request.id,
        "received",
        subject_ids=[profile_id] if profile_id else [],
        categories=[],
        document={"kind": kind, "source": source, "due_on": due},
    )
    return request


def mark_verified(session: Session, access: AccessContext, request_id: str, method: str) -> DsrRequest:
    """Identity confirmed by other means than the emailed code (documents checked by an officer, or the
    platform that sent the request authenticated the customer, e.g. Shopify)."""
    if access.principal.profile_id is not None:
        raise PermissionError("a data subject verifies with the emailed code")
    require_staff(access, "write", "confirmDsrIdentity")
    request = get_request(session, access, request_id, action="write")
    _expect(request, "received")
    request.status, request.verified_at, request.verification_method = "verified", utcnow(), method[:64]
    audit_dsr(session, access, request.id, "verified", subject_ids=_subjects(request), categories=[],
              document={"method": method})  # fmt: skip
    return request


def extend_deadline(
    session: Session, access: AccessContext, request_id: str, *, extension: deadlines.Period, reason: str,
    today: date | None = None,
) -> DsrRequest:  # fmt: skip
    """Extend the deadline as the jurisdiction allows; the reason is recorded (and audited)."""
    require_staff(access, "write", "extendDsrDeadline")
    request = get_request(session, access, request_id, action="write")
    if request.status not in OPEN_STATUSES:
        raise DsrError(f"request is {request.status}; only open requests can be extended")
    request.due_on = deadlines.extended_due_date(
        request.jurisdiction,
        original_due=request.original_due_on,
        today=today or utcnow().date(),
        extension=extension,
        reason=reason,
        extensions_so_far=int(request.extended_at is not None),
    )
    request.extension_reason, request.extended_at = reason.strip()[:500], utcnow()
    audit_dsr(session, access, request.id, "extended", subject_ids=_subjects(request), categories=[],
              document={"due_on": request.due_on, "reason": reason})  # fmt: skip
    return request


def refuse(session: Session, access: AccessContext, request_id: str, reason: str) -> DsrRequest:
    """Close a request without acting, with the reason the subject is told (e.g. identity not verified)."""
    require_staff(access, "write", "refuseDsrRequest")
    if not reason.strip():
        raise DsrError("a refusal needs a reason")
    request = get_request(session, access, request_id, action="write")
    if request.status not in OPEN_STATUSES:
        raise DsrError(f"request is already {request.status}")
    request.status, request.refusal_reason, request.closed_at = "refused", reason.strip()[:500], utcnow()
    audit_dsr(session, access, request.id, "refused", subject_ids=_subjects(request), categories=[],
              document={"reason": reason})  # fmt: skip
    return request


def list_requests(
    session: Session, access: AccessContext, *, status: str | None = None, first: int = 50, after: str | None = None
) -> list[DsrRequest]:
    """Requests by due date (soonest first), optionally one status; `after` is the last id of a page. Staff
    see the queue with its read grant; a data-subject token sees its own requests."""
    require_dsr_purpose(access)
    if status is not None and status not in STATUSES:
        raise DsrError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    query = select(DsrRequest)
    if status:
        query = query.where(col(DsrRequest.status) == status)
    if access.principal.profile_id is not None:
        query = query.where(col(DsrRequest.profile_id).in_(load_group(session, access.principal.profile_id).member_ids))
    else:
        require_staff(access, "read", "dsrRequests")
    if after:
        cursor = session.get(DsrRequest, after)
        if cursor is None:
            raise DsrError("invalid cursor: pass the id of the last request of the previous page")
        query = query.where(
            (col(DsrRequest.due_on) > cursor.due_on)
            | ((col(DsrRequest.due_on) == cursor.due_on) & (col(DsrRequest.id) > after))
        )
    return list(session.execute(query.order_by(col(DsrRequest.due_on), col(DsrRequest.id)).limit(first)).scalars())


def load(session: Session, access: AccessContext, request_id: str) -> DsrRequest:
    return get_request(session, access, request_id)


def execute(
    session: Session,
    store: Store,
    access: AccessContext,
    request_id: str,
    *,
    traits: Mapping[str, object] | None = None,
    identifiers: dict[str, str] | None = None,
) -> Outcome:
    """Carry out a verified request (staff with the queue's write grant, or the subject on its own request).
    `traits`/`identifiers` are the corrected values of a rectification. An erasure takes two steps, each its
    own transaction (`Outcome.finished` is False after the first): its rows go and held rows move to their
    hold key, then — once that is committed — the data keys are shredded and the certificate issued."""
    request = executable(session, access, request_id)
    if request.kind == "shop_redaction":
        return _close(session, access, request, summary={"erased_profiles": 0, "note": SHOP_REDACTION_NOTE})
    subject_group(session, access, request)  # refuses requests whose subject is unknown or not the caller's
    if request.kind == "erasure":
        if request.status == "in_progress":
            finished, certificate = erase.finish(session, store, access, request)
            return Outcome(finished, certificate=certificate)
        request.status = "in_progress"
        erase.begin(session, store, access, request)
        return Outcome(request)
    request.status = "in_progress"
    if request.kind in ("access", "portability"):
        archive = export.export_archive(session, store, access, request)
        return _close(session, access, request, archive=archive)
    if request.kind == "restriction":
        return _close(session, access, request, summary=rights.restrict(session, access, request))
    if request.kind == "objection":
        return _close(session, access, request, summary=rights.object_to_marketing(session, access, request))
    summary = rights.rectify(session, store, access, request, traits or {}, identifiers or {})
    return _close(session, access, request, summary=summary)


def executable(session: Session, access: AccessContext, request_id: str) -> DsrRequest:
    """A request this principal may run now: staff with the queue's write grant or the subject on its own
    request, and the request verified (or an erasure half done)."""
    if access.principal.profile_id is None:
        require_staff(access, "write", "executeDsrRequest")
    request = get_request(session, access, request_id, action="write")
    _expect(request, "verified", "in_progress")
    return request


SHOP_REDACTION_NOTE = (
    "shop/redact erases nothing automatically: customers are shared across shops and platforms, and each "
    "customer's own data is erased through the customers/redact request Shopify sends for them"
)


def _close(
    session: Session, access: AccessContext, request: DsrRequest, *, archive: IO[bytes] | None = None,
    summary: dict | None = None,
) -> Outcome:  # fmt: skip
    request.status, request.closed_at = "completed", utcnow()
    audit_dsr(session, access, request.id, "completed", subject_ids=_subjects(request), categories=[],
              document={"kind": request.kind})  # fmt: skip
    return Outcome(request, archive=archive, summary=summary)


def lift_restriction(session: Session, access: AccessContext, request_id: str) -> Outcome:
    """End the restriction a completed restriction request put in place (staff, with the queue's grant)."""
    require_staff(access, "write", "liftRestriction")
    request = get_request(session, access, request_id, action="write")
    return Outcome(request, summary=rights.lift_restriction(session, access, request))


def _expect(request: DsrRequest, *statuses: str) -> None:
    if request.status not in statuses:
        raise DsrError(f"request is {request.status}; this step needs it to be {' or '.join(statuses)}")


def _subjects(request: DsrRequest) -> list[str]:
    return [request.profile_id] if request.profile_id else []
