"""The pages' audit entries, as the GraphQL gate extension writes them: one per page that returned personal
data (subjects and categories the services recorded on the context), and one per refusal."""

from __future__ import annotations

from sqlmodel import Session

from cdp.access.audit import audit_in, audit_now
from cdp.access.gate import AccessContext
from cdp.store import Store
from policies.errors import AccessDenied


def audit_read(session: Session, access: AccessContext, page: str) -> None:
    """In the page's transaction, so the data and its audit entry commit together."""
    if access.subjects:
        audit_in(session, access, operation=f"web:{page}", document=page, outcome="allowed",
                 subject_ids=sorted(access.subjects), categories=sorted(access.categories))  # fmt: skip


def audit_denial(store: Store, access: AccessContext, page: str, denied: AccessDenied) -> None:
    """In its own transaction: the refused page's own work was rolled back."""
    audit_now(store, access, operation=f"web:{page}", document=page, outcome="denied", categories=[denied.category],
              detail=str(denied))  # fmt: skip
