"""The audit package: hash chain, tamper detection, export, query and the PostgreSQL append-only guard."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

import audit

TABLES = [audit.AuditEntry.__table__]
DOC = audit.hash_document("query Customer { customer { email } }")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    SQLModel.metadata.create_all(engine, tables=TABLES)
    yield engine
    engine.dispose()


def _append(session: Session, n: int = 1, **overrides: object) -> list[audit.AuditEntry]:
    fields: dict = {
        "actor": "key_support",
        "role": "support",
        "purpose": "support.ticket",
        "operation": "CustomerByEmail",
        "document_hash": DOC,
        "subject_ids": ["p-1"],
        "categories": ["user.contact.email", "user.name"],
        "outcome": "allowed",
    }
    fields.update(overrides)
    return [audit.append(session, **fields) for _ in range(n)]


def _chain_of(engine: Engine, n: int) -> None:
    with Session(engine) as session:
        for i in range(1, n + 1):
            _append(session, subject_ids=[f"p-{i}"])
        session.commit()


def _raw(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _verify(engine: Engine, **kwargs: object) -> audit.VerifyResult:
    with Session(engine) as session:
        return audit.verify(session, **kwargs)


def test_append_links_entries_into_a_chain_that_verifies(engine: Engine) -> None:
    with Session(engine) as session:
        entries = _append(session, 3, subject_ids=["p-2", "p-1", "p-2"], detail="ok")
        session.commit()
        assert [e.seq for e in entries] == [1, 2, 3]
        assert entries[0].prev_hash == audit.GENESIS_HASH
        assert [e.prev_hash for e in entries[1:]] == [e.entry_hash for e in entries[:-1]]
        assert entries[0].subject_id_list == ["p-1", "p-2"]  # sorted, de-duplicated
        assert entries[0].occurred_at.tzinfo is not None
        assert audit.head(session) == (3, entries[-1].entry_hash)

    result = _verify(engine, batch_size=2)  # several batches
    assert result == audit.VerifyResult(ok=True, entries_checked=3)


def test_empty_log_verifies(engine: Engine) -> None:
    with Session(engine) as session:
        assert audit.head(session) is None
    assert _verify(engine) == audit.VerifyResult(ok=True, entries_checked=0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"subject_ids": "p-1"}, "subject_ids must be a list"),
        ({"categories": ["user.name", ""]}, "categories must be a list"),
        ({"document_hash": "abc"}, "document_hash must be 64"),
        ({"actor": " "}, "actor must be a non-empty string"),
        ({"outcome": "x" * 40}, "too long"),
    ],
)
def test_append_rejects_malformed_input(engine: Engine, overrides: dict, message: str) -> None:
    with Session(engine) as session, pytest.raises(audit.AuditError, match=message):
        _append(session, **overrides)


@pytest.mark.parametrize(
    "change",
    ["purpose = 'marketing'", "subject_ids = '[\"p-9\"]'", "outcome = 'denied'", "detail = 'x'"],
)
def test_changed_field_is_named(engine: Engine, change: str) -> None:
    _chain_of(engine, 5)
    _raw(engine, f"UPDATE audit_entry SET {change} WHERE seq = 3")
    result = _verify(engine)
    assert (result.ok, result.first_broken_seq, result.entries_checked) == (False, 3, 2)
    assert result.reason == "entry 3: hash mismatch (fields changed)"


def test_rewritten_entry_with_recomputed_hash_breaks_the_next_link(engine: Engine) -> None:
    _chain_of(engine, 5)
    with Session(engine) as session:
        record = audit.query(session, after_seq=2, limit=1)[0].as_record()
    record["purpose"] = "marketing"
    forged = audit.compute_entry_hash(record)  # an attacker who knows the algorithm re-hashes the entry
    _raw(engine, f"UPDATE audit_entry SET purpose = 'marketing', entry_hash = '{forged}' WHERE seq = 3")
    result = _verify(engine)
    assert (result.ok, result.first_broken_seq) == (False, 4)
    assert result.reason == "entry 4: prev_hash does not match entry 3"


def test_deleted_middle_entry_is_named(engine: Engine) -> None:
    _chain_of(engine, 5)
    _raw(engine, "DELETE FROM audit_entry WHERE seq = 3")
    result = _verify(engine)
    assert (result.ok, result.first_broken_seq, result.entries_checked) == (False, 3, 2)
    assert result.reason == "gap: entry 3 missing (expected seq 3, found 4)"


def test_swapped_entries_are_named(engine: Engine) -> None:
    _chain_of(engine, 5)
    _raw(
        engine,
        "UPDATE audit_entry SET seq = -1 WHERE seq = 2",
        "UPDATE audit_entry SET seq = 2 WHERE seq = 3",
        "UPDATE audit_entry SET seq = 3 WHERE seq = -1",
    )
    result = _verify(engine)
    assert (result.ok, result.first_broken_seq) == (False, 2)
    assert result.reason == "entry 2: hash mismatch (fields changed)"


def test_deleted_tail_is_caught_only_with_an_anchor(engine: Engine) -> None:
    _chain_of(engine, 5)
    with Session(engine) as session:
        anchor = audit.head(session)
    assert _verify(engine, anchor=anchor).ok
    _raw(engine, "DELETE FROM audit_entry WHERE seq >= 4")

    assert _verify(engine).ok  # a chain alone cannot tell
    result = _verify(engine, anchor=anchor)
    assert (result.ok, result.first_broken_seq) == (False, 4)
    assert result.reason == "anchor: entry 5 missing (log ends at seq 3): tail deleted"
    assert not _verify(engine, anchor=(2, "f" * 64)).ok


def test_export_writes_one_json_object_per_entry_and_verifies_offline(engine: Engine) -> None:
    _chain_of(engine, 4)
    buffer = io.StringIO()
    with Session(engine) as session:
        assert audit.export_jsonl(session, buffer) == 4
        entries = audit.query(session)
    lines = buffer.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(lines) == 4
    assert records == [e.as_record() for e in entries]
    assert list(records[0]) == [
        "seq", "id", "occurred_at", "actor", "role", "purpose", "operation", "document_hash",
        "subject_ids", "categories", "outcome", "detail", "prev_hash", "entry_hash",
    ]  # fmt: skip
    assert records[1]["subject_ids"] == ["p-2"]
    assert all(audit.compute_entry_hash(r) == r["entry_hash"] for r in records)
    assert audit.verify_jsonl(io.StringIO(buffer.getvalue())) == audit.VerifyResult(True, 4)

    records[2]["outcome"] = "denied"
    tampered = io.StringIO("".join(json.dumps(r) + "\n" for r in records))
    assert audit.verify_jsonl(tampered).first_broken_seq == 3


def test_export_time_window(engine: Engine) -> None:
    _chain_of(engine, 3)
    with Session(engine) as session:
        later = datetime.now(UTC) + timedelta(seconds=1)
        assert audit.export_jsonl(session, io.StringIO(), until=later) == 3
        assert audit.export_jsonl(session, io.StringIO(), since=later) == 0


def test_query_filters_and_pages(engine: Engine) -> None:
    with Session(engine) as session:
        _append(session, actor="key_a", subject_ids=["p-1", "p-10"])
        _append(session, actor="key_b", subject_ids=["p-10"], purpose="marketing.email")
        _append(session, actor="key_a", subject_ids=["p_1"], outcome="denied", detail="no consent")
        _append(session, actor="key_a", subject_ids=[])
        session.commit()

        def seqs(**filters: object) -> list[int]:
            return [e.seq for e in audit.query(session, **filters)]

        assert seqs() == [1, 2, 3, 4]
        assert seqs(actor="key_a") == [1, 3, 4]
        assert seqs(subject_id="p-1") == [1]  # not p-10: the id is matched with its quotes
        assert seqs(subject_id="p-10") == [1, 2]
        assert seqs(subject_id="p%1") == []  # LIKE wildcards are escaped
        assert seqs(purpose="marketing.email") == [2]
        assert seqs(actor="key_a", subject_id="p_1") == [3]
        assert seqs(limit=2) == [1, 2]
        assert seqs(after_seq=2, limit=2) == [3, 4]
        now = datetime.now(UTC)
        assert seqs(since=now - timedelta(minutes=1), until=now + timedelta(minutes=1)) == [1, 2, 3, 4]
        assert seqs(since=now + timedelta(minutes=1)) == []
        with pytest.raises(audit.AuditError, match="limit"):
            audit.query(session, limit=0)
        with pytest.raises(audit.AuditError, match="since must be time-zone aware"):
            audit.query(session, since=datetime(2025, 1, 1))


def test_concurrent_appends_keep_one_chain(engine: Engine) -> None:
    """Two writers, each committing appends in its own session, never fork or break the chain."""
    per_thread, errors = 25, []
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        try:
            start.wait()
            for _ in range(per_thread):
                with Session(engine) as session:
                    _append(session, actor=name)
                    session.commit()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"key_{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert _verify(engine) == audit.VerifyResult(ok=True, entries_checked=2 * per_thread)


def test_postgres_refuses_update_delete_and_truncate(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            audit.install_append_only_guard(conn)  # a no-op elsewhere
        pytest.skip("the append-only guard is a PostgreSQL trigger")
    _chain_of(engine, 2)
    with engine.begin() as conn:
        audit.install_append_only_guard(conn)
        audit.install_append_only_guard(conn)  # idempotent
    for statement in (
        "UPDATE audit_entry SET outcome = 'denied' WHERE seq = 1",
        "DELETE FROM audit_entry WHERE seq = 2",
        "DELETE FROM audit_entry WHERE seq = 99",
        "TRUNCATE audit_entry",
    ):
        with pytest.raises(DBAPIError, match="audit_entry is append-only"):
            _raw(engine, statement)
    _chain_of(engine, 1)  # appends still work
    assert _verify(engine) == audit.VerifyResult(ok=True, entries_checked=3)
