"""Consent, cdp side: record and read a customer's consent through the gate, audited.

The ledger itself (append-only records, jurisdiction defaults) is the `consent` package; this module adds
who may do it (the gate), which customer (merge groups, data-subject scope) and the audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext, consent_block
from cdp.identity.groups import load_group
from consent.ledger import history, record, record_gpc_opt_out
from consent.models import ConsentRecord
from policies.purposes import Purposes

CONSENT_CATEGORY = "user.consent"


@dataclass(frozen=True)
class PurposeConsent:
    purpose: str
    status: str | None  # latest record on exactly this purpose, None if never asked
    recorded_at: datetime | None
    permitted: bool  # may the purpose be pursued now (records on parents and jurisdiction rules included)
    reason: str | None


def record_consent(
    session: Session,
    access: AccessContext,
    *,
    profile_id: str,
    purpose: str,
    status: str,
    source: str,
    notice_version: str | None = None,
    notice_text: str | None = None,
    recorded_at: datetime | None = None,
) -> ConsentRecord:
    """Append a consent answer for the customer; effective on the very next read. `recorded_at` only for
    answers given earlier and imported now."""
    access.require(CONSENT_CATEGORY, action="write", field="recordConsent")
    group = load_group(session, profile_id)
    access.check_subject(group.member_ids)
    spec = access.purposes.get(purpose)  # raises UnknownPurpose listing the valid ones
    jurisdiction = group.root.jurisdiction
    legal_basis = spec.legal_basis.get(jurisdiction, "consent")
    entry = record(
        session,
        profile_id=group.root.id,
        purpose=purpose,
        status=status,
        legal_basis=legal_basis,
        jurisdiction=jurisdiction,
        source=source,
        notice_version=notice_version,
        notice_text=notice_text,
        recorded_at=recorded_at,
        actor=access.principal.key_id,
    )
    audit_in(
        session,
        access,
        operation="consent:record",
        document=f"consent {purpose} {status} {source}",
        outcome="allowed",
        subject_ids=[group.root.id],
        categories=[CONSENT_CATEGORY],
    )
    return entry


def gpc_purposes(purposes: Purposes) -> list[str]:
    """Sale/sharing purposes a GPC signal withdraws. A parent is marked sale/sharing when any child is (it may
    not be looser than its children), but withdrawing the parent would also stop its other children, such as
    the seller's own email marketing: so only purposes whose every descendant is sale/sharing."""
    selling = purposes.sale_or_sharing_purposes()
    return sorted(p for p in selling if all(q in selling for q in purposes.names() if q.startswith(p + ".")))


def apply_gpc(session: Session, access: AccessContext, profile_ids: list[str]) -> int:
    """A `Sec-GPC: 1` signal is an opt-out of sale/sharing for these customers. Returns records added."""
    purposes = gpc_purposes(access.purposes)
    added = 0
    for profile_id in dict.fromkeys(profile_ids):
        group = load_group(session, profile_id)
        added += len(record_gpc_opt_out(session, group.root.id, group.root.jurisdiction, purposes))
    if added:
        audit_in(
            session,
            access,
            operation="consent:gpc",
            document="Sec-GPC: 1",
            outcome="allowed",
            subject_ids=sorted(set(profile_ids)),
            categories=[CONSENT_CATEGORY],
        )
    return added


def consent_overview(session: Session, access: AccessContext, profile_id: str) -> list[PurposeConsent]:
    """Every purpose with the customer's latest answer and whether it may be pursued now."""
    access.require(CONSENT_CATEGORY, field="consents")
    group = load_group(session, profile_id)
    access.check_subject(group.member_ids)
    latest: dict[str, ConsentRecord] = {}
    for entry in history(session, group.member_ids):
        latest[entry.purpose] = entry
    overview = []
    for purpose in sorted(access.purposes.names()):
        reason = consent_block(session, access.purposes, purpose, group)
        answer = latest.get(purpose)
        overview.append(
            PurposeConsent(
                purpose=purpose,
                status=answer.status if answer else None,
                recorded_at=answer.recorded_at if answer else None,
                permitted=reason is None,
                reason=reason,
            )
        )
    access.returned(group.root.id, CONSENT_CATEGORY)
    return overview


def consent_history(session: Session, access: AccessContext, profile_id: str) -> list[ConsentRecord]:
    access.require(CONSENT_CATEGORY, field="consentHistory")
    group = load_group(session, profile_id)
    access.check_subject(group.member_ids)
    access.returned(group.root.id, CONSENT_CATEGORY)
    return history(session, group.member_ids)
