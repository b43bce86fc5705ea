"""Reading the audit log: the paginated query behind the auditLog API, and the JSONL export for auditors."""

from __future__ import annotations

import json
from datetime import datetime
from typing import IO

from sqlalchemy import Select, inspect, select
from sqlmodel import Session

from audit.canonical import to_record
from audit.chain import AuditError
from audit.models import AuditEntry

MAX_PAGE = 1000
_T = inspect(AuditEntry).local_table.c


def query(
    session: Session,
    *,
    actor: str | None = None,
    subject_id: str | None = None,
    purpose: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries matching every given filter, in seq order; page on with `after_seq` = last seq seen.

    `since` is inclusive, `until` exclusive; both must be time-zone aware. `purpose` matches exactly.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise AuditError(f"limit must be between 1 and {MAX_PAGE}")
    stmt = _time_window(select(AuditEntry), since, until)
    if actor is not None:
        stmt = stmt.where(_T.actor == actor)
    if purpose is not None:
        stmt = stmt.where(_T.purpose == purpose)
    if subject_id is not None:
        # subject_ids is a JSON array as text: match the quoted id, with LIKE wildcards escaped.
        stmt = stmt.where(_T.subject_ids.contains(json.dumps(subject_id), autoescape=True))
    if after_seq is not None:
        stmt = stmt.where(_T.seq > after_seq)
    return list(session.scalars(stmt.order_by(_T.seq).limit(limit)))


def export_jsonl(session: Session, fp: IO[str], since: datetime | None = None, until: datetime | None = None) -> int:
    """Write one JSON object per entry (all fields, seq order) to `fp`; return how many were written.

    A full export (no `since`/`until`) can be checked offline with `audit.verify_jsonl`.
    """
    stmt = _time_window(select(*_T), since, until).order_by(_T.seq)
    written = 0
    for row in session.connection().execute(stmt.execution_options(yield_per=5_000)).mappings():  # this query only
        fp.write(json.dumps(to_record(row), separators=(",", ":")) + "\n")
        written += 1
    return written


def _time_window(stmt: Select, since: datetime | None, until: datetime | None) -> Select:
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound.tzinfo is None:
            raise AuditError(f"{name} must be time-zone aware")
    if since is not None:
        stmt = stmt.where(_T.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(_T.occurred_at < until)
    return stmt
