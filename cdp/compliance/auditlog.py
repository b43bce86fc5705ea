"""The audit log for compliance officers: search and chain verification, through the gate and audited (who
looked at who-read-what is itself recorded)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

import audit
from audit.models import AuditEntry
from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext

AUDIT_CATEGORY = "system.audit_log"  # ids and categories only, but who read what is sensitive


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    subject_id: str | None = None
    purpose: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None


def search(session: Session, access: AccessContext, where: AuditFilter, *, limit: int = 50) -> list[AuditEntry]:
    """Entries matching every given filter, in chain order (raises audit.AuditError on a bad filter)."""
    access.forbid_subject_tokens()
    access.require(AUDIT_CATEGORY, field="auditLog")
    rows = audit.query(
        session,
        actor=where.actor or None,
        subject_id=where.subject_id or None,
        purpose=where.purpose or None,
        since=where.since,
        until=where.until,
        after_seq=where.after_seq,
        limit=limit,
    )
    document = json.dumps({k: v for k, v in where.__dict__.items() if v is not None}, sort_keys=True, default=str)
    audit_in(session, access, operation="audit:search", document=document, outcome="allowed",
             categories=[AUDIT_CATEGORY])  # fmt: skip
    return rows


def verify_chain(session: Session, access: AccessContext) -> audit.VerifyResult:
    """Recompute the hash chain; the result names the first broken entry. Audited after the check, so the
    entry it appends is not part of what it verified."""
    access.forbid_subject_tokens()
    access.require(AUDIT_CATEGORY, field="auditVerify")
    result = audit.verify(session)  # its streaming is scoped to its SELECT: the INSERT below is a plain one
    audit_in(session, access, operation="audit:verify", document="verify", outcome="allowed",
             categories=[AUDIT_CATEGORY], detail=f"ok={result.ok} checked={result.entries_checked}")  # fmt: skip
    return result
