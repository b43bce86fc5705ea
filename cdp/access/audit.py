"""Audit entries for every operation that returns or changes personal data, and for every denial.

Entries carry ids and categories, never values. Changes are audited in the transaction that makes them, so
neither can exist without the other. A read's entry is committed in the session that read, before any of the
data leaves (`audit_and_commit`): one transaction on one connection, and no entry, no data. That is safe on
both databases: PostgreSQL runs READ COMMITTED, so the chain head read after the append lock is the newest
one whatever the transaction read before; SQLite runs each read on its own (the driver opens a transaction
only at the first write), so there is no older snapshot to upgrade to a write.

On SQLite the commits of one process also take turns on a lock of their own before the database's write lock:
threads of a busy server then queue in order instead of polling SQLite's busy handler, whose backoff sleeps
let a waiting commit lie idle for milliseconds after the lock was free.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

import audit
from audit.models import AuditEntry
from cdp.access.checkpoints import checkpoint_after_commit
from cdp.access.gate import AccessContext
from cdp.store import Store

_sqlite_turns: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_turns_lock = threading.Lock()


def audit_in(
    session: Session,
    access: AccessContext,
    *,
    operation: str,
    document: str,
    outcome: str,
    subject_ids: Iterable[str] = (),
    categories: Iterable[str] = (),
    detail: str = "",
) -> AuditEntry:
    """Append an entry inside the caller's transaction; the head is checkpointed once it commits."""
    checkpoint_after_commit(session)
    return audit.append(
        session,
        actor=access.principal.key_id,
        role=access.principal.role,
        purpose=access.purpose,
        operation=operation,
        document_hash=audit.hash_document(document),
        subject_ids=subject_ids,
        categories=categories,
        outcome=outcome,
        detail=detail[:500],
    )


def audit_and_commit(session: Session, access: AccessContext, **entry: Any) -> int:
    """Append an entry (fields as for `audit_in`) and commit the session's transaction with it. Raises, with
    the transaction rolled back, when the entry cannot be written or committed: the caller then withholds
    what the entry was for."""
    try:
        with _sqlite_turn(session):
            seq = audit_in(session, access, **entry).seq
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return seq


def _sqlite_turn(session: Session) -> AbstractContextManager[object]:
    """This process's turn at the SQLite write lock, for a session that has not written yet; a session that has
    (it holds the write lock, or is queued for it) never waits for a thread that may be waiting for it."""
    connection = session.connection()
    if connection.dialect.name != "sqlite" or getattr(connection.connection.dbapi_connection, "in_transaction", True):
        return nullcontext()
    with _turns_lock:
        turn = _sqlite_turns.get(connection.engine)
        if turn is None:
            turn = _sqlite_turns[connection.engine] = threading.Lock()
    return turn


def audit_now(store: Store, access: AccessContext, **entry: Any) -> int:
    """Append and commit an entry in a transaction of its own, for doors that hold no session (a refusal)."""
    with store.session() as session:
        return audit_and_commit(session, access, **entry)
