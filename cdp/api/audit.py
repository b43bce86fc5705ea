"""The audit log over GraphQL, for compliance officers: filtered, paginated, verifiable."""

from __future__ import annotations

from datetime import datetime

import strawberry

import audit
from cdp.access import checkpoints
from cdp.api.context import RequestContext
from cdp.api.types import PageInfo, check_first, decode_cursor, encode_cursor, paginate

AUDIT_CATEGORY = "system.audit_log"  # the log holds ids and categories only, but who read what is sensitive


@strawberry.type
class AuditEntry:
    seq: int
    id: strawberry.ID
    occurred_at: datetime
    actor: str
    role: str
    purpose: str
    operation: str
    document_hash: str
    subject_ids: list[strawberry.ID]
    categories: list[str]
    outcome: str
    detail: str
    prev_hash: str
    entry_hash: str


@strawberry.type
class AuditConnection:
    nodes: list[AuditEntry]
    page_info: PageInfo


@strawberry.type
class AuditVerification:
    ok: bool
    entries_checked: int
    first_broken_seq: int | None
    reason: str | None


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Audit entries in order, filtered by actor, subject, purpose and time.")
    def audit_log(
        self,
        info: strawberry.Info,
        first: int = 50,
        after: str | None = None,
        actor: str | None = None,
        subject_id: strawberry.ID | None = None,
        purpose: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> AuditConnection:
        ctx: RequestContext = info.context
        ctx.access.require(AUDIT_CATEGORY, field="auditLog")
        after_seq = int(decode_cursor(after, 1)[0]) if after else None
        rows = audit.query(
            ctx.session,
            actor=actor,
            subject_id=str(subject_id) if subject_id else None,
            purpose=purpose,
            since=since,
            until=until,
            after_seq=after_seq,
            limit=check_first(first) + 1,
        )
        page, page_info = paginate(rows, first, lambda r: encode_cursor(str(r.seq)))
        return AuditConnection(
            nodes=[
                AuditEntry(
                    seq=r.seq,
                    id=strawberry.ID(r.id),
                    occurred_at=r.occurred_at,
                    actor=r.actor,
                    role=r.role,
                    purpose=r.purpose,
                    operation=r.operation,
                    document_hash=r.document_hash,
                    subject_ids=[strawberry.ID(s) for s in r.subject_id_list],
                    categories=r.category_list,
                    outcome=r.outcome,
                    detail=r.detail,
                    prev_hash=r.prev_hash,
                    entry_hash=r.entry_hash,
                )
                for r in page
            ],
            page_info=page_info,
        )

    # Compared with the newest signed checkpoint too, so a missing tail is named.
    @strawberry.field(description="Recompute the hash chain; names the first broken entry.")
    def audit_verify(self, info: strawberry.Info) -> AuditVerification:
        ctx: RequestContext = info.context
        ctx.access.require(AUDIT_CATEGORY, field="auditVerify")
        result, _ = checkpoints.verify_log(ctx.store)
        return AuditVerification(
            ok=result.ok,
            entries_checked=result.entries_checked,
            first_broken_seq=result.first_broken_seq,
            reason=result.reason,
        )
