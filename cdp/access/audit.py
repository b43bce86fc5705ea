"""Audit entries for every operation that returns or changes personal data, and for every denial.

Entries carry ids and categories, never values. Reads are audited in their own short transaction (the
request's session may hold an older snapshot, and SQLite cannot upgrade a stale read to a write); changes
are audited in the transaction that makes them, so neither can exist without the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session

import audit
from audit.models import AuditEntry
from cdp.access.checkpoints import checkpoint_after_commit
from cdp.access.gate import AccessContext
from cdp.store import Store


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


def audit_now(store: Store, access: AccessContext, **entry: Any) -> int:
    """Append and commit an entry on its own (fields as for `audit_in`); raises when the log cannot be
    written."""
    with store.session() as session:
        seq = audit_in(session, access, **entry).seq
        session.commit()
    return seq
