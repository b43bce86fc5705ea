"""Recording consent and reading its current state.

The ledger is append-only: a withdrawal is a new "withdrawn" record, never an update, so the history shows
what the customer was told (notice version and text hash), when, where and how they answered. The current
state of (customer, purpose) is the latest record, by `recorded_at` then insertion order, across all the
profile ids that make up one customer (merged profiles). Nothing is cached: a withdrawal committed by one
request is what the next read sees.

Every function takes the caller's Session and never commits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import FromClause, Select, Subquery, func, inspect, select
from sqlmodel import Session

from consent.errors import ConsentError
from consent.jurisdiction import check_jurisdiction
from consent.models import ConsentRecord

STATUSES = frozenset({"granted", "withdrawn", "denied"})
# The six GDPR Art. 6 bases, plus "notice" for APPI's notified purpose of use (no GDPR-style basis applies).
LEGAL_BASES = frozenset(
    {
        "consent",
        "legitimate_interests",
        "contract",
        "legal_obligation",
        "vital_interests",
        "public_task",
        "notice",
    }
)
SOURCES = frozenset({"banner", "checkout", "api", "gpc", "import", "data_subject", "shopify"})
# Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
IN_CHUNK = 2_000
_PURPOSE = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")
_C = inspect(ConsentRecord).local_table.c


def record(
    session: Session,
    *,
    profile_id: str,
    purpose: str,
    status: str,
    legal_basis: str,
    jurisdiction: str,
    source: str,
    notice_version: str | None = None,
    notice_text: str | None = None,
    recorded_at: datetime | None = None,
    actor: str | None = None,
) -> ConsentRecord:
    """Append one consent record (flushed, not committed) and return it.

    `notice_text` is not stored, only its sha256, which proves later which text was shown. `recorded_at`
    defaults to now; pass one (time-zone aware) only when importing earlier answers.
    """
    _check_text("profile_id", profile_id, 64)
    _check_purpose(purpose)
    _check_choice("status", status, STATUSES)
    _check_choice("legal_basis", legal_basis, LEGAL_BASES)
    check_jurisdiction(jurisdiction)
    _check_choice("source", source, SOURCES)
    if notice_version is not None:
        _check_text("notice_version", notice_version, 64)
    if notice_text is not None:
        _check_text("notice_text", notice_text, None)
    if actor is not None:
        _check_text("actor", actor, 200)
    if recorded_at is None:
        recorded_at = datetime.now(UTC)
    elif not isinstance(recorded_at, datetime) or recorded_at.tzinfo is None:
        raise ConsentError("recorded_at must be a time-zone aware datetime")

    entry = ConsentRecord(
        profile_id=profile_id,
        purpose=purpose,
        status=status,
        legal_basis=legal_basis,
        jurisdiction=jurisdiction,
        source=source,
        notice_version=notice_version,
        notice_text_hash=None if notice_text is None else hashlib.sha256(notice_text.encode()).hexdigest(),
        recorded_at=recorded_at.astimezone(UTC),
        actor=actor,
    )
    session.add(entry)
    session.flush()
    return entry


def current_state(
    session: Session, profile_ids: Iterable[str], purposes: Iterable[str] | None = None
) -> dict[str, ConsentRecord]:
    """Latest record per purpose for one customer made of `profile_ids`: {purpose: record}.

    Purposes never answered are absent (see `is_permitted` for what silence means). One query.
    """
    ids = _id_list("profile_ids", profile_ids)
    if not ids:
        return {}
    rank = func.row_number().over(partition_by=_C.purpose, order_by=(_C.recorded_at.desc(), _C.seq.desc()))
    ranked = select(_C.seq, rank.label("rank")).where(_C.profile_id.in_(ids))
    if purposes is not None:
        ranked = ranked.where(_C.purpose.in_(_id_list("purposes", purposes)))
    latest = ranked.subquery()
    stmt = select(ConsentRecord).join(latest, latest.c.seq == _C.seq).where(latest.c.rank == 1)
    return {entry.purpose: entry for entry in session.scalars(stmt)}


def current_states(
    session: Session, subjects: Mapping[str, Iterable[str]] | Iterable[str], purpose: str
) -> dict[str, str]:
    """Latest status of one purpose for many subjects at once: {subject key: status}.

    `subjects` maps a key (e.g. the surviving profile id) to all profile ids of that customer, or is a plain
    list of profile ids, each its own subject. Subjects never asked are absent. One query per `IN_CHUNK`
    profile ids, whatever the number of subjects.
    """
    groups = subjects if isinstance(subjects, Mapping) else {pid: (pid,) for pid in _id_list("subjects", subjects)}
    return {key: record.status for key, record in latest_records(session, groups, [purpose]).items()}


def latest_records(
    session: Session, subjects: Mapping[str, Iterable[str]], purposes: Iterable[str]
) -> dict[str, ConsentRecord]:
    """The newest record on any of `purposes` for each subject — a key mapped to all profile ids of that
    customer: {subject key: record}. Subjects never asked are absent. One query per `IN_CHUNK` profile ids,
    whatever the number of subjects, so a page of customers costs one query, not one per customer."""
    wanted = list(dict.fromkeys(_id_list("purposes", purposes)))
    for purpose in wanted:
        _check_purpose(purpose)
    owner: dict[str, str] = {}
    for key, members in subjects.items():
        for pid in _id_list(f"subjects[{key!r}]", members):
            if owner.setdefault(pid, key) != key:
                raise ConsentError(f"profile id {pid!r} belongs to two subjects: {owner[pid]!r} and {key!r}")
    ids = list(owner)
    best: dict[str, ConsentRecord] = {}
    rank = func.row_number().over(partition_by=_C.profile_id, order_by=(_C.recorded_at.desc(), _C.seq.desc()))
    for start in range(0, len(ids), IN_CHUNK):
        ranked = (
            select(_C.seq, rank.label("rank"))
            .where(_C.purpose.in_(wanted), _C.profile_id.in_(ids[start : start + IN_CHUNK]))
            .subquery()
        )
        rows = session.scalars(select(ConsentRecord).where(_C.seq.in_(select(ranked.c.seq).where(ranked.c.rank == 1))))
        for record in rows:
            key = owner[record.profile_id]
            known = best.get(key)
            if known is None or (record.recorded_at, record.seq) > (known.recorded_at, known.seq):
                best[key] = record
    return best


def latest_by_group(purpose: str, membership: Select | FromClause) -> Subquery:
    """SQL form of `current_states`, to filter segments inside the database.

    `membership` is any select or table with columns `group_id` and `profile_id` (e.g. each profile id with
    its surviving profile id). Returns a subquery with one row per group that has an answer for `purpose`:
    `group_id`, `status`, `recorded_at`. Outer-join it and treat NULL status as "never asked".
    """
    _check_purpose(purpose)
    members = membership.subquery() if isinstance(membership, Select) else membership
    rank = func.row_number().over(partition_by=members.c.group_id, order_by=(_C.recorded_at.desc(), _C.seq.desc()))
    ranked = (
        select(members.c.group_id, _C.status, _C.recorded_at, rank.label("rank"))
        .join_from(members, ConsentRecord, _C.profile_id == members.c.profile_id)
        .where(_C.purpose == purpose)
        .subquery()
    )
    return (
        select(ranked.c.group_id, ranked.c.status, ranked.c.recorded_at)
        .where(ranked.c.rank == 1)
        .subquery("latest_consent")
    )


def history(session: Session, profile_ids: Iterable[str]) -> list[ConsentRecord]:
    """Every record of the customer made of `profile_ids`, oldest first (recorded_at, then insertion)."""
    ids = _id_list("profile_ids", profile_ids)
    stmt = select(ConsentRecord).where(_C.profile_id.in_(ids)).order_by(_C.recorded_at, _C.seq)
    return list(session.scalars(stmt)) if ids else []


def record_gpc_opt_out(
    session: Session, profile_id: str, jurisdiction: str, sale_sharing_purposes: Iterable[str]
) -> list[ConsentRecord]:
    """Record a Global Privacy Control signal (`Sec-GPC: 1`) as a withdrawal of each sale/sharing purpose.

    Idempotent per purpose: a purpose whose latest record already is a GPC withdrawal gets no new record,
    so a browser that sends the header on every request does not grow the ledger. Returns the new records.
    """
    _check_text("profile_id", profile_id, 64)
    check_jurisdiction(jurisdiction)
    purposes = list(dict.fromkeys(_id_list("sale_sharing_purposes", sale_sharing_purposes)))
    latest = current_state(session, [profile_id], purposes)
    added = []
    for purpose in purposes:
        previous = latest.get(purpose)
        if previous is not None and (previous.status, previous.source) == ("withdrawn", "gpc"):
            continue
        added.append(
            record(
                session,
                profile_id=profile_id,
                purpose=purpose,
                status="withdrawn",
                legal_basis="consent",
                jurisdiction=jurisdiction,
                source="gpc",
            )
        )
    return added


def _check_text(name: str, value: object, max_length: int | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConsentError(f"{name} must be a non-empty string")
    if max_length is not None and len(value) > max_length:
        raise ConsentError(f"{name} is longer than {max_length} characters")
    return value


def _check_purpose(purpose: object) -> None:
    if not _PURPOSE.fullmatch(_check_text("purpose", purpose, 200)):
        raise ConsentError(f"purpose {purpose!r} is not a dotted lower-case name like 'marketing.email'")


def _check_choice(name: str, value: object, allowed: frozenset[str]) -> None:
    if value not in allowed:
        raise ConsentError(f"unknown {name} {value!r}: expected one of {', '.join(sorted(allowed))}")


def _id_list(name: str, values: Iterable[str]) -> list[str]:
    items = None if isinstance(values, str) else list(values)  # a bare str would split into characters
    if items is None or not all(isinstance(v, str) and v for v in items):
        raise ConsentError(f"{name} must be a list of non-empty strings")
    return items
