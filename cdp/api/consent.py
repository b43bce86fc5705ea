"""Consent over GraphQL: record and withdraw answers (banner, checkout, API), read state and history."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from cdp.api.context import RequestContext
from cdp.consents import service
from consent.models import ConsentRecord as LedgerRecord


@strawberry.enum
class ConsentStatus(enum.Enum):
    granted = "granted"
    withdrawn = "withdrawn"
    denied = "denied"


@strawberry.enum
class ConsentSource(enum.Enum):
    banner = "banner"
    checkout = "checkout"
    api = "api"
    import_ = "import"
    data_subject = "data_subject"


@strawberry.type
class ConsentRecord:
    id: strawberry.ID
    purpose: str
    status: str
    legal_basis: str
    jurisdiction: str
    source: str
    notice_version: str | None
    notice_text_hash: str | None = strawberry.field(description="SHA-256 of the notice text that was shown.")
    recorded_at: datetime

    @classmethod
    def of(cls, row: LedgerRecord) -> ConsentRecord:
        return cls(
            id=strawberry.ID(row.id),
            purpose=row.purpose,
            status=row.status,
            legal_basis=row.legal_basis,
            jurisdiction=row.jurisdiction,
            source=row.source,
            notice_version=row.notice_version,
            notice_text_hash=row.notice_text_hash,
            recorded_at=row.recorded_at,
        )


@strawberry.type
class PurposeConsent:
    purpose: str
    status: str | None = strawberry.field(description="Latest answer on exactly this purpose; null if never asked.")
    recorded_at: datetime | None
    permitted: bool = strawberry.field(description="May the purpose be pursued now (parents, jurisdiction rules).")
    reason: str | None


@strawberry.type
class ConsentQuery:
    @strawberry.field(description="Every purpose with the customer's answer and whether it is permitted now.")
    def consents(self, info: strawberry.Info, profile_id: strawberry.ID) -> list[PurposeConsent]:
        ctx: RequestContext = info.context
        return [
            PurposeConsent(
                purpose=c.purpose, status=c.status, recorded_at=c.recorded_at, permitted=c.permitted, reason=c.reason
            )
            for c in service.consent_overview(ctx.session, ctx.access, str(profile_id))
        ]

    @strawberry.field(description="The append-only ledger of the customer's answers, oldest first.")
    def consent_history(self, info: strawberry.Info, profile_id: strawberry.ID) -> list[ConsentRecord]:
        ctx: RequestContext = info.context
        return [ConsentRecord.of(r) for r in service.consent_history(ctx.session, ctx.access, str(profile_id))]


def _record(
    info: strawberry.Info,
    profile_id: strawberry.ID,
    purpose: str,
    status: ConsentStatus,
    source: ConsentSource,
    notice_version: str | None,
    notice_text: str | None,
) -> ConsentRecord:
    ctx: RequestContext = info.context
    entry = service.record_consent(
        ctx.session,
        ctx.access,
        profile_id=str(profile_id),
        purpose=purpose,
        status=status.value,
        source=source.value,
        notice_version=notice_version,
        notice_text=notice_text,
    )
    if ctx.gpc:
        service.apply_gpc(ctx.session, ctx.access, [str(profile_id)])
    ctx.commit()
    return ConsentRecord.of(entry)


@strawberry.type
class ConsentMutation:
    @strawberry.mutation(description="Record an answer. With `Sec-GPC: 1`, sale/sharing is also opted out.")
    def record_consent(
        self,
        info: strawberry.Info,
        profile_id: strawberry.ID,
        purpose: str,
        status: ConsentStatus,
        source: ConsentSource,
        notice_version: str | None = None,
        notice_text: str | None = None,
    ) -> ConsentRecord:
        return _record(info, profile_id, purpose, status, source, notice_version, notice_text)

    @strawberry.mutation(description="Withdraw consent for a purpose; effective on the next read.")
    def withdraw_consent(
        self, info: strawberry.Info, profile_id: strawberry.ID, purpose: str, source: ConsentSource = ConsentSource.api
    ) -> ConsentRecord:
        return _record(info, profile_id, purpose, ConsentStatus.withdrawn, source, None, None)
