"""What every data-subject-rights operation shares: errors, the audit helper, loading a request's subject."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.categories import event_category, identifier_category
from cdp.dictionary import dictionary
from cdp.dsr.models import DsrRequest
from cdp.events.models import Event
from cdp.identity.models import Identity
from cdp.profiles.models import Trait
from cdp.profiles.service import ProfileGroup, load_group
from cdp.traits.models import ComputedTrait

DSR_PURPOSES = frozenset({"data_subject_rights", "legal_compliance"})


class DsrError(ValueError):
    """A request cannot do what was asked (wrong state, bad argument); the message says why."""


class RequestNotFound(LookupError):
    pass


def require_dsr_purpose(access: AccessContext) -> None:
    if access.purpose not in DSR_PURPOSES:
        raise PermissionError(
            f"data-subject requests are handled for purpose data_subject_rights or legal_compliance, "
            f"not {access.purpose!r}"
        )


def system_access() -> AccessContext:
    """The platform acting on its own (sending a verification code to the subject's own address)."""
    return AccessContext.for_principal(Principal("system:dsr", "dsr", "compliance_officer"), "data_subject_rights")


def audit_dsr(
    session: Session,
    access: AccessContext,
    request_id: str,
    operation: str,
    *,
    subject_ids: list[str],
    categories: list[str],
    document: dict[str, Any],
    outcome: str = "allowed",
) -> str:
    """One audit entry of a request's step, in the caller's transaction; `detail` ties it to the request."""
    return audit_in(
        session,
        access,
        operation=f"dsr:{operation}",
        document=json.dumps(document, sort_keys=True, default=str),
        subject_ids=subject_ids,
        categories=categories,
        outcome=outcome,
        detail=f"dsr_request {request_id}",
    ).id


def get_request(session: Session, access: AccessContext, request_id: str) -> DsrRequest:
    """The request, if this principal may see it (a data-subject token sees its own only)."""
    require_dsr_purpose(access)
    request = session.get(DsrRequest, request_id)
    if request is None:
        raise RequestNotFound(f"no data-subject request with id {request_id}")
    if access.principal.profile_id is not None:
        if request.profile_id is None:
            raise RequestNotFound(f"no data-subject request with id {request_id}")
        access.check_subject(load_group(session, request.profile_id).member_ids)
    return request


def held_categories(session: Session, members: list[str]) -> list[str]:
    """The data categories of everything stored about these profiles."""
    kinds = session.execute(select(Identity.kind).where(Identity.profile_id.in_(members)).distinct()).scalars()
    trait_categories = session.execute(select(Trait.category).where(Trait.profile_id.in_(members)).distinct())
    types = session.execute(select(Event.type).where(Event.profile_id.in_(members)).distinct()).scalars()
    found = {identifier_category(k) for k in kinds} | set(trait_categories.scalars())
    if session.execute(select(ComputedTrait.profile_id).where(ComputedTrait.profile_id.in_(members))).first():
        found |= {spec.category for spec in dictionary().computed.values()}
    return sorted(found | {event_category(t) for t in types})


def subject_group(session: Session, access: AccessContext, request: DsrRequest) -> ProfileGroup:
    if request.profile_id is None:
        raise DsrError("no profile holds the identifier this request was made with")
    group = load_group(session, request.profile_id)
    access.check_subject(group.member_ids)
    return group
