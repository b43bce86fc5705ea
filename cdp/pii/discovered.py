"""What PII detection found, for compliance review: fields holding personal data, and plaintext leaks.

- `discovered_field`: one row per (location, entity type) that ingest classification found personal data in,
  e.g. ("traits.tax_number", BR_CPF) or ("properties.ticket.body", EMAIL_ADDRESS), with counts and times.
- `pii_scan` / `pii_scan_finding`: each run of the leak scanner (`cdp scan`) and what it found.

Like `Finding` and `ScanFinding`, these rows say where and what kind, never the value, so they are not
personal data themselves and are stored in plaintext.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, String, UniqueConstraint, case, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col

from audit.models import UTCDateTime
from cdp.db import table_of
from cdp.ids import new_id, utcnow
from cdp.pii.scanner import ScanFinding

LOCATION_MAX = 300


class DiscoveredField(SQLModel, table=True):
    __tablename__ = "discovered_field"
    __table_args__ = (UniqueConstraint("location", "entity_type", name="uq_discovered_field_location_entity"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    location: str = Field(max_length=LOCATION_MAX)  # "traits.<name>" or "properties.<event type>.<json path>"
    entity_type: str = Field(max_length=32)
    category: str = Field(max_length=64)
    max_score: float
    occurrences: int = Field(sa_column=Column(BigInteger, nullable=False))
    first_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class PiiScan(SQLModel, table=True):
    __tablename__ = "pii_scan"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    finished_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finding_count: int


class PiiScanFinding(SQLModel, table=True):
    __tablename__ = "pii_scan_finding"

    scan_id: str = Field(sa_column=Column(String(36), ForeignKey("pii_scan.id", ondelete="CASCADE"), primary_key=True))
    # Position in the scan's sorted findings: the page cursor.
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    table_name: str = Field(max_length=128)
    column_name: str = Field(max_length=128)
    row_id: str = Field(max_length=200)
    entity_type: str = Field(max_length=32)
    score: float


@dataclass(frozen=True, slots=True)
class Discovery:
    """One field value found to hold an entity type (best score in that value)."""

    location: str
    entity_type: str
    category: str
    score: float


def record_discoveries(session: Session, discoveries: Iterable[Discovery]) -> int:
    """Upsert: count each discovery, keep the best score and the first/last time seen. Returns rows touched.

    One INSERT ... ON CONFLICT per call; rows go in key order so concurrent writers lock them in the same
    order and cannot deadlock.
    """
    merged: dict[tuple[str, str], tuple[str, float, int]] = {}
    for d in discoveries:
        key = (d.location[:LOCATION_MAX], d.entity_type)
        _, score, count = merged.get(key, (d.category, 0.0, 0))
        merged[key] = (d.category, max(score, d.score), count + 1)
    if not merged:
        return 0
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "location": location,
            "entity_type": entity,
            "category": category,
            "max_score": score,
            "occurrences": count,
            "first_seen": now,
            "last_seen": now,
        }
        for (location, entity), (category, score, count) in sorted(merged.items())
    ]
    table = table_of(DiscoveredField)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["location", "entity_type"],
        set_={
            "category": stmt.excluded.category,
            "max_score": case(
                (stmt.excluded.max_score > table.c.max_score, stmt.excluded.max_score), else_=table.c.max_score
            ),
            "occurrences": table.c.occurrences + stmt.excluded.occurrences,
            "last_seen": stmt.excluded.last_seen,
        },
    )
    session.execute(stmt)
    return len(rows)


def list_discovered(session: Session, *, first: int, after: tuple[str, str] | None = None) -> list[DiscoveredField]:
    """Discovered fields in (location, entity type) order; `after` is the last key of the previous page."""
    query = select(DiscoveredField)
    if after is not None:
        query = query.where(tuple_(DiscoveredField.location, DiscoveredField.entity_type) > tuple_(*after))
    order = (DiscoveredField.location, DiscoveredField.entity_type)
    return list(session.execute(query.order_by(*order).limit(first)).scalars())


def record_scan(session: Session, started_at: datetime, findings: list[ScanFinding]) -> PiiScan:
    """Store one scanner run and its findings (in the scanner's order); the caller commits."""
    scan = PiiScan(started_at=started_at, finished_at=utcnow(), finding_count=len(findings))
    session.add(scan)
    session.flush()
    if findings:
        session.execute(
            table_of(PiiScanFinding).insert(),
            [
                {
                    "scan_id": scan.id,
                    "seq": seq,
                    "table_name": f.table,
                    "column_name": f.column,
                    "row_id": f.row_id,
                    "entity_type": f.entity_type,
                    "score": f.score,
                }
                for seq, f in enumerate(findings, start=1)
            ],
        )
    return scan


def latest_scan(session: Session) -> PiiScan | None:
    return session.execute(
        select(PiiScan).order_by(col(PiiScan.started_at).desc(), col(PiiScan.id).desc()).limit(1)
    ).scalar_one_or_none()


def list_scan_findings(session: Session, scan_id: str, *, first: int, after: int = 0) -> list[PiiScanFinding]:
    """One scan's findings in scan order; `after` is the `seq` of the previous page's last finding."""
    query = select(PiiScanFinding).where(col(PiiScanFinding.scan_id) == scan_id, col(PiiScanFinding.seq) > after)
    return list(session.execute(query.order_by(col(PiiScanFinding.seq)).limit(first)).scalars())
