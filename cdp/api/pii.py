"""PII detection results over GraphQL, for compliance officers: fields found to hold personal data at ingest,
and the findings of the last leak scan (`cdp scan` records them; a scan takes too long for a request)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from cdp.api.context import RequestContext
from cdp.api.types import PageInfo, check_first, decode_cursor, encode_cursor, paginate
from cdp.pii import discovered
from policies.errors import AccessDenied

# Locations and entity types, never values: not personal data, but compliance records like the audit log.
PII_FINDINGS_CATEGORY = "system.pii_findings"


def _require(info: strawberry.Info, field: str) -> RequestContext:
    ctx: RequestContext = info.context
    # A data-subject token's wildcard grant (data_subject_rights: *) would cover system categories too; these
    # records describe the whole database, not the subject.
    if ctx.access.principal.profile_id is not None:
        raise AccessDenied(ctx.access.principal.role, ctx.access.purpose, "read", PII_FINDINGS_CATEGORY, field)
    ctx.access.require(PII_FINDINGS_CATEGORY, field=field)
    return ctx


@strawberry.type
class DiscoveredField:
    location: str = strawberry.field(description='"traits.<name>" or "properties.<event type>.<json path>".')
    entity_type: str
    category: str
    max_score: float
    occurrences: int
    first_seen: datetime
    last_seen: datetime


@strawberry.type
class DiscoveredFieldConnection:
    nodes: list[DiscoveredField]
    page_info: PageInfo


@strawberry.type
class PiiScan:
    id: strawberry.ID
    started_at: datetime
    finished_at: datetime
    finding_count: int


@strawberry.type
class ScanFinding:
    table: str
    column: str
    row_id: str
    entity_type: str
    score: float


@strawberry.type
class ScanFindingConnection:
    scan: PiiScan | None = strawberry.field(description="The scan these findings come from; null: never scanned.")
    nodes: list[ScanFinding]
    page_info: PageInfo


@strawberry.type
class PiiQuery:
    @strawberry.field(description="Fields that ingestion found to hold personal data, by location and entity type.")
    def discovered_fields(
        self, info: strawberry.Info, first: int = 50, after: str | None = None
    ) -> DiscoveredFieldConnection:
        ctx = _require(info, "discoveredFields")
        after_key: tuple[str, str] | None = None
        if after:
            location, entity_type = decode_cursor(after, 2)
            after_key = (location, entity_type)
        rows = discovered.list_discovered(ctx.session, first=check_first(first) + 1, after=after_key)
        page, page_info = paginate(rows, first, lambda r: encode_cursor(r.location, r.entity_type))
        return DiscoveredFieldConnection(
            nodes=[
                DiscoveredField(
                    location=r.location,
                    entity_type=r.entity_type,
                    category=r.category,
                    max_score=r.max_score,
                    occurrences=r.occurrences,
                    first_seen=r.first_seen,
                    last_seen=r.last_seen,
                )
                for r in page
            ],
            page_info=page_info,
        )

    @strawberry.field(description="Personal data the last leak scan (`cdp scan`) found in plaintext columns.")
    def scan_findings(self, info: strawberry.Info, first: int = 50, after: str | None = None) -> ScanFindingConnection:
        ctx = _require(info, "scanFindings")
        check_first(first)
        scan = discovered.latest_scan(ctx.session)
        if scan is None:
            return ScanFindingConnection(scan=None, nodes=[], page_info=PageInfo(has_next_page=False, end_cursor=None))
        after_seq = 0
        if after:
            scan_id, seq = decode_cursor(after, 2)
            if scan_id != scan.id:
                raise ValueError("a newer scan has been recorded since this cursor: start again without `after`")
            after_seq = int(seq)
        rows = discovered.list_scan_findings(ctx.session, scan.id, first=first + 1, after=after_seq)
        page, page_info = paginate(rows, first, lambda r: encode_cursor(scan.id, str(r.seq)))
        return ScanFindingConnection(
            scan=PiiScan(
                id=strawberry.ID(scan.id),
                started_at=scan.started_at,
                finished_at=scan.finished_at,
                finding_count=scan.finding_count,
            ),
            nodes=[
                ScanFinding(
                    table=r.table_name, column=r.column_name, row_id=r.row_id, entity_type=r.entity_type, score=r.score
                )
                for r in page
            ],
            page_info=page_info,
        )
