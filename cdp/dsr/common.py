"""What every data-subject-rights operation shares: errors, the audit helper, loading a request's subject."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.categories import event_category, identifier_category
from cdp.dictionary import dictionary
from cdp.dsr.models import DsrRequest
from cdp.events.models import Event
from cdp.identity.groups import ProfileGroup, load_group
from cdp.identity.models import Identity
from cdp.profiles.models import Trait
from cdp.traits.models import ComputedTrait

DSR_PURPOSES = frozenset({"data_subject_rights", "legal_compliance"})
# The request queue itself (who asked for what, deadlines, refusals): staff steps need this category's grant
# for the declared purpose — `read` to list and open requests, `write` to verify, extend, refuse or run them.
# A data-subject token acts on its own requests only, through scope checks instead.
QUEUE_CATEGORY = "system.privacy_request"


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
    """The platform acting on its own (sending a verification code to the subject's own address, checking
    the code the subject typed)."""
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


def require_staff(access: AccessContext, action: str, step: str) -> None:
    """A step on the queue by staff: the role must hold `action` on the queue for this purpose."""
    require_dsr_purpose(access)
    access.require(QUEUE_CATEGORY, action=action, field=step)


def get_request(session: Session, access: AccessContext, request_id: str, *, action: str = "read") -> DsrRequest:
    """The request, if this principal may see it: a data-subject token its own only, staff with the queue's
    grant for `action`."""
    require_dsr_purpose(access)
    if access.principal.profile_id is None:
        access.require(QUEUE_CATEGORY, action=action, field="dsrRequest")
    request = session.get(DsrRequest, request_id)
    if request is None:
        raise RequestNotFound(f"no data-subject request with id {request_id}")
    if access.principal.profile_id is not None:
        if request.profile_id is None:
            raise RequestNotFound(f"no data-subject request with id {request_id}")
        access.check_subject(load_group(session, request.profile_id).member_ids, action=action)
    return request


def held_categories(session: Session, members: list[str]) -> list[str]:
    """The data categories of everything stored about these profiles."""
    kinds = session.execute(
        select(col(Identity.kind)).where(col(Identity.profile_id).in_(members)).distinct()
    ).scalars()
    trait_categories = session.execute(select(col(Trait.category)).where(col(Trait.profile_id).in_(members)).distinct())
    types = session.execute(select(col(Event.type)).where(col(Event.profile_id).in_(members)).distinct()).scalars()
    found = {identifier_category(k) for k in kinds} | set(trait_categories.scalars())
    if session.execute(select(col(ComputedTrait.profile_id)).where(col(ComputedTrait.profile_id).in_(members))).first():
        found |= {spec.category for spec in dictionary().computed.values()}
    return sorted(found | {event_category(t) for t in types})


def subject_group(session: Session, access: AccessContext, request: DsrRequest) -> ProfileGroup:
    if request.profile_id is None:
        raise DsrError("no profile holds the identifier this request was made with")
    group = load_group(session, request.profile_id)
    access.check_subject(group.member_ids, action="write")
    return group
