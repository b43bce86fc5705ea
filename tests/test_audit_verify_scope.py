"""`audit.verify` and `audit.export_jsonl` stream the log through a server-side cursor on PostgreSQL; that
streaming belongs to their one SELECT. The session (and the pooled connection behind it) must run the caller's
next statements as plain ones: the console appends its own audit entry for the verify right after it, in the
same transaction."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session, SQLModel

import audit

DOC = audit.hash_document("query AuditVerify { auditVerify { ok } }")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    # One pooled connection, so every session below gets the same database connection back from the pool.
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    SQLModel.metadata.create_all(engine, tables=[audit.AuditEntry.__table__])
    yield engine
    engine.dispose()


def _append(session: Session) -> audit.AuditEntry:
    return audit.append(session, actor="k-officer", role="compliance_officer", purpose="legal_compliance",
                        operation="audit:verify", document_hash=DOC, subject_ids=[], categories=["system.audit_log"],
                        outcome="allowed")  # fmt: skip


def _committed_chain(engine: Engine, entries: int) -> None:
    with Session(engine) as session:
        for _ in range(entries):
            _append(session)
        session.commit()


def test_a_session_appends_and_queries_normally_after_verify_walked_the_chain_in_batches(engine: Engine) -> None:
    _committed_chain(engine, 5)
    with Session(engine) as session:
        assert audit.verify(session, batch_size=2) == audit.VerifyResult(ok=True, entries_checked=5)
        assert "yield_per" not in session.connection().get_execution_options()
        assert _append(session).seq == 6  # an INSERT on the connection verify streamed over
        assert session.execute(text("SELECT count(*) FROM audit_entry")).scalar_one() == 6
        session.commit()
    with Session(engine) as session:
        start = audit.head(session)
        assert start is not None and start[0] == 6
        _append(session)
        session.commit()
    with Session(engine) as session:
        assert audit.verify_since(session, start, batch_size=2) == audit.VerifyResult(ok=True, entries_checked=7)
        assert _append(session).seq == 8
        session.commit()
    with engine.connect() as pooled:  # the same connection, back from the pool
        assert pooled.execute(text("SELECT max(seq), count(*) FROM audit_entry")).one() == (8, 8)
    with Session(engine) as session:
        assert audit.verify(session) == audit.VerifyResult(ok=True, entries_checked=8)


def test_verify_stopping_at_a_broken_entry_leaves_the_session_usable(engine: Engine) -> None:
    _committed_chain(engine, 5)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'someone else' WHERE seq = 2"))
    with Session(engine) as session:  # the walk stops at entry 2, with rows left unread in its cursor
        result = audit.verify(session, batch_size=2)
        assert (result.ok, result.first_broken_seq) == (False, 2)
        assert _append(session).seq == 6
        session.commit()
    with engine.connect() as pooled:
        assert pooled.execute(text("SELECT count(*) FROM audit_entry")).scalar_one() == 6


def test_a_session_appends_normally_after_export_streamed_the_log(engine: Engine) -> None:
    _committed_chain(engine, 3)
    with Session(engine) as session:
        assert audit.export_jsonl(session, io.StringIO()) == 3
        assert _append(session).seq == 4
        session.commit()
