"""Compliance records the console lists: PII detection results, identity review items and API keys. None holds
a personal value (locations, entity types, profile ids, key prefixes), but each describes the whole database,
so each is for staff with the grant on its system category, and every listing is audited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.auth.models import ApiKey
from cdp.identity.models import ReviewItem
from cdp.pii import discovered
from cdp.pii.discovered import DiscoveredField, PiiScan, PiiScanFinding

PII_FINDINGS_CATEGORY = "system.pii_findings"
REVIEW_CATEGORY = "system.identity_review"
API_KEY_CATEGORY = "system.api_key"


@dataclass(frozen=True)
class PiiOverview:
    fields: list[DiscoveredField]
    scan: PiiScan | None
    findings: list[PiiScanFinding]


def _listed(session: Session, access: AccessContext, category: str, step: str) -> None:
    access.forbid_subject_tokens()
    access.require(category, field=step)
    audit_in(session, access, operation=f"console:{step}", document=step, outcome="allowed", categories=[category])


def pii_overview(session: Session, access: AccessContext, *, first: int = 200) -> PiiOverview:
    _listed(session, access, PII_FINDINGS_CATEGORY, "piiFindings")
    scan = discovered.latest_scan(session)
    findings = discovered.list_scan_findings(session, scan.id, first=first) if scan else []
    return PiiOverview(discovered.list_discovered(session, first=first), scan, findings)


def review_items(
    session: Session, access: AccessContext, *, status: str = "open", first: int = 200
) -> list[ReviewItem]:
    _listed(session, access, REVIEW_CATEGORY, "reviewItems")
    query = (
        select(ReviewItem)
        .where(col(ReviewItem.status) == status)
        .order_by(col(ReviewItem.created_at), col(ReviewItem.id))
    )
    return list(session.execute(query.limit(first)).scalars())


def api_keys(session: Session, access: AccessContext) -> list[ApiKey]:
    """Every key but data-subject tokens (one per verified request: they belong to the request, not the list)."""
    _listed(session, access, API_KEY_CATEGORY, "apiKeys")
    query = select(ApiKey).where(col(ApiKey.role) != "data_subject").order_by(col(ApiKey.created_at), col(ApiKey.id))
    return list(session.execute(query).scalars())
