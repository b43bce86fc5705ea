"""Appending to and verifying the hash chain of `audit_entry`.

Each entry stores the hash of its predecessor (`prev_hash`, the genesis entry stores 64 zeros) and its own
hash over every other field including `seq` (see `audit.canonical`). Changing any field, deleting a row in
the middle or swapping two rows' positions therefore breaks the chain at a nameable entry.

What a chain alone cannot show: that entries were cut off the *end*. `verify(..., anchor=...)` closes that
gap given a head recorded elsewhere: a signed checkpoint (`audit.checkpoint`) or a hand-kept (seq, hash).
`verify_since` checks only the entries after a trusted head, to extend a checkpoint cheaply.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from sqlalchemy import Connection, CursorResult, Select, insert, inspect, select, text
from sqlmodel import Session

from audit.canonical import GENESIS_HASH, compute_entry_hash, dumps_list, hash_stored, iso_utc
from audit.models import AuditEntry

# Arbitrary constant naming "the audit chain head" among PostgreSQL advisory locks (ASCII "cdpaudit").
PG_APPEND_LOCK_KEY = 0x6364_7061_7564_6974
_HEX64 = re.compile(r"[0-9a-f]{64}")
_T = inspect(AuditEntry).local_table.c
_VERIFY_COLUMNS = (
    _T.seq, _T.id, _T.occurred_at, _T.actor, _T.role, _T.purpose, _T.operation, _T.document_hash,
    _T.outcome, _T.detail, _T.prev_hash, _T.subject_ids, _T.categories, _T.entry_hash,
)  # fmt: skip
# Built once: an append runs them on the session's connection, without the ORM's per-statement work.
_HEAD = select(_T.seq, _T.entry_hash).order_by(_T.seq.desc()).limit(1)
_INSERT = insert(AuditEntry)
_SQLITE_WRITE_LOCK = text("UPDATE audit_entry SET seq = seq WHERE 0")
_PG_APPEND_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


class AuditError(ValueError):
    """An audit entry was refused because an argument is malformed; the message names it."""


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries_checked: int
    first_broken_seq: int | None = None
    reason: str | None = None
    # Where an intact walk ended: (seq, entry_hash) of the last entry, None for an empty log. Not part of the
    # verdict (two results agree whatever it is); a checkpoint of it covers exactly what was verified.
    head: tuple[int, str] | None = field(default=None, compare=False)


def head(session: Session | Connection) -> tuple[int, str] | None:
    """(seq, entry_hash) of the last entry, or None for an empty log. Record it elsewhere as an anchor."""
    conn = session.connection() if isinstance(session, Session) else session
    row = conn.execute(_HEAD).first()
    return None if row is None else (row[0], row[1])


def append(
    session: Session,
    *,
    actor: str,
    role: str,
    purpose: str,
    operation: str,
    document_hash: str,
    subject_ids: Iterable[str],
    categories: Iterable[str],
    outcome: str,
    detail: str = "",
) -> AuditEntry:
    """Append one entry inside the caller's transaction (flushed, not committed).

    `subject_ids` are profile ids and `categories` data-category names: never personal values, and `detail`
    is a short non-personal reason. Appends are serialized so two writers cannot fork the chain: on
    PostgreSQL by a transaction-scoped advisory lock (READ COMMITTED, the default, so the head read after
    the lock sees the previous holder's commit); on SQLite by taking the database write lock with a no-op
    UPDATE before the head is read. Either lock is held until the caller commits or rolls back, so keep the
    transaction short. Should a writer race anyway (another isolation level, another dialect), the `seq`
    primary key makes the loser fail with IntegrityError instead of forking the chain.
    """
    fields = {"actor": actor, "role": role, "purpose": purpose, "operation": operation, "outcome": outcome}
    for name, value in fields.items():
        if not isinstance(value, str) or not value.strip():
            raise AuditError(f"{name} must be a non-empty string")
    if not isinstance(document_hash, str) or not _HEX64.fullmatch(document_hash):
        raise AuditError("document_hash must be 64 lower-case hex characters (sha256)")
    if len(outcome) > 32 or len(detail) > 500:
        raise AuditError("outcome (max 32) or detail (max 500 characters) too long")
    subjects, cats = _list_text("subject_ids", subject_ids), _list_text("categories", categories)

    session.flush()  # what the caller added is written before the entry, as before any read of the session
    conn = session.connection()
    _lock_chain_head(conn)
    last = head(conn)
    seq, prev_hash = (1, GENESIS_HASH) if last is None else (last[0] + 1, last[1])
    entry = AuditEntry(
        seq=seq,
        id=str(uuid.uuid4()),
        occurred_at=datetime.now(UTC),
        **fields,
        document_hash=document_hash,
        subject_ids=subjects,
        categories=cats,
        detail=detail,
        prev_hash=prev_hash,
    )
    entry.entry_hash = hash_stored(
        [seq, entry.id, iso_utc(entry.occurred_at), actor, role, purpose, operation, document_hash,
         outcome, detail, prev_hash],
        subjects,
        cats,
    )  # fmt: skip
    conn.execute(_INSERT, [entry.model_dump()])  # a plain insert: the entry is never changed through the ORM
    return entry


def verify(
    source: Session | Connection, batch_size: int = 10_000, anchor: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk the whole chain in seq order and report the first broken entry.

    Streams plain rows in batches (no ORM objects). Detects changed fields, deleted rows (a seq gap) and
    reordered rows (seq is hashed). A truncated tail is only detected with `anchor`, a (seq, entry_hash)
    pair taken earlier from `head()`.
    """
    with _streamed(source, select(*_VERIFY_COLUMNS).order_by(_T.seq), batch_size) as rows:
        return _check_chain(_recomputed(rows), anchor)


def verify_since(source: Session | Connection, start: tuple[int, str] | None, batch_size: int = 10_000) -> VerifyResult:
    """Verify only the entries after `start`, a (seq, entry_hash) already trusted (None: from the beginning),
    including that the entry at `start` still has that hash (read in the same statement). `entries_checked`
    counts up to the head."""
    after = 0 if start is None else start[0]
    stmt = select(*_VERIFY_COLUMNS).where(_T.seq >= after).order_by(_T.seq)
    with _streamed(source, stmt, batch_size) as rows:
        entries = _recomputed(rows)
        if start is not None:
            first = next(entries, None)
            if first is None or first[0] != after or first[3] != start[1]:
                what = "missing" if first is None or first[0] != after else "changed"
                return VerifyResult(False, after - 1, after, f"entry {after}: {what} since it was checkpointed")
        return _check_chain(entries, None, start)


def _streamed(source: Session | Connection, stmt: Select, batch_size: int) -> CursorResult:
    """`stmt`'s rows fetched `batch_size` at a time (a server-side cursor on PostgreSQL). The option rides on
    the statement, not the connection: the caller's next statements on that connection (an INSERT of the
    verify's own audit entry, say) run as plain ones. Close the result (`with`) to free the cursor early."""
    conn = source.connection() if isinstance(source, Session) else source
    return conn.execute(stmt.execution_options(yield_per=batch_size))


def _recomputed(rows: Iterable) -> Iterator[tuple[int, str, str, str]]:
    """(seq, recomputed hash, prev_hash, entry_hash) of `_VERIFY_COLUMNS` rows: indexes 0-10 are the hashed
    scalars (2 = occurred_at), 11-12 the list texts."""
    for r in rows:
        scalars = [r[0], r[1], r[2].isoformat(timespec="microseconds"), *r[3:11]]
        yield r[0], hash_stored(scalars, r[11], r[12]), r[10], r[13]


def verify_jsonl(fp: IO[str], anchor: tuple[int, str] | None = None) -> VerifyResult:
    """Verify an `export_jsonl` file offline (a full export, from seq 1), by the documented definition."""
    records = (json.loads(line) for line in fp if line.strip())
    return _check_chain(
        ((rec["seq"], compute_entry_hash(rec), rec["prev_hash"], rec["entry_hash"]) for rec in records),
        anchor,
    )


def _check_chain(
    entries: Iterator[tuple[int, str, str, str]],
    anchor: tuple[int, str] | None,
    start: tuple[int, str] | None = None,
) -> VerifyResult:
    """Check (seq, recomputed hash, stored prev_hash, stored entry_hash) tuples in order, from the genesis or
    from the entry after `start`."""
    expected, prev = (1, GENESIS_HASH) if start is None else (start[0] + 1, start[1])
    anchor_hash = None
    for seq, computed, prev_hash, entry_hash in entries:
        if seq != expected:
            reason = (
                f"gap: entry {expected} missing (expected seq {expected}, found {seq})"
                if seq > expected
                else f"entry {seq}: out of order (expected seq {expected})"
            )
            return VerifyResult(False, expected - 1, expected, reason)
        if computed != entry_hash:
            return VerifyResult(False, seq - 1, seq, f"entry {seq}: hash mismatch (fields changed)")
        if prev_hash != prev:
            what = "the genesis hash" if seq == 1 else f"entry {seq - 1}"
            return VerifyResult(False, seq - 1, seq, f"entry {seq}: prev_hash does not match {what}")
        if anchor is not None and seq == anchor[0]:
            anchor_hash = entry_hash
        prev, expected = entry_hash, expected + 1
    checked = expected - 1
    if anchor is not None:
        if anchor[0] > checked:
            reason = f"anchor: entry {anchor[0]} missing (log ends at seq {checked}): tail deleted"
            return VerifyResult(False, checked, checked + 1, reason)
        if anchor_hash != anchor[1]:
            return VerifyResult(False, checked, anchor[0], f"entry {anchor[0]}: hash differs from the anchor")
    return VerifyResult(True, checked, head=(checked, prev) if checked else None)


def _lock_chain_head(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_APPEND_LOCK, {"key": PG_APPEND_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # A write statement takes SQLite's RESERVED lock even when it matches no row.
        conn.execute(_SQLITE_WRITE_LOCK)


def _list_text(name: str, values: Iterable[str]) -> str:
    items = None if isinstance(values, str) else list(values)  # a bare str would split into characters
    if items is None or not all(isinstance(v, str) and v for v in items):
        raise AuditError(f"{name} must be a list of non-empty strings")
    return dumps_list(items)
