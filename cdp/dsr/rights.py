"""Restriction, objection and rectification of a verified request's subject."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, insert, update
from sqlmodel import Session, col

import consent
from cdp.access.gate import AccessContext, policy_gate
from cdp.categories import identifier_category
from cdp.dictionary import dictionary
from cdp.dsr.common import DsrError, audit_dsr, held_categories, subject_group
from cdp.dsr.models import DsrRequest
from cdp.identity.groups import ProfileGroup
from cdp.identity.models import Identity, Profile
from cdp.identity.resolve import holder_of, normalize_identifiers
from cdp.identity.rules import rules
from cdp.ids import new_id, utcnow
from cdp.profiles import service as profiles
from cdp.profiles.models import Trait
from cdp.store import Store

MARKETING = "marketing"


def restrict(session: Session, access: AccessContext, request: DsrRequest) -> dict[str, Any]:
    """Art. 18: keep the data, process it only for legal_compliance (the access gate nulls it otherwise)."""
    members = _change_status(session, access, request, "active", "restricted", "restriction")
    return {"status": "restricted", "profile_ids": members}


def lift_restriction(session: Session, access: AccessContext, request: DsrRequest) -> dict[str, Any]:
    """End the restriction a completed restriction request put in place (the subject must be told before;
    Art. 18(3)). Staff only: the request's own audit trail records who lifted it and when."""
    if request.kind != "restriction" or request.status != "completed":
        raise DsrError("only a completed restriction request can be lifted")
    members = _change_status(session, access, request, "restricted", "active", "restriction_lifted")
    return {"status": "active", "profile_ids": members}


def _change_status(
    session: Session, access: AccessContext, request: DsrRequest, before: str, after: str, operation: str
) -> list[str]:
    group = subject_group(session, access, request)
    members = group.member_ids
    for category in held_categories(session, members):
        access.require(category, action="write")
    session.execute(
        update(Profile).where(col(Profile.id).in_(members), col(Profile.status) == before).values(status=after)
    )
    audit_dsr(session, access, request.id, operation, subject_ids=members, categories=[],
              document={"status": after})  # fmt: skip
    return members


def marketing_purposes() -> list[str]:
    names = policy_gate().purposes.names()
    return sorted(n for n in names if n == MARKETING or n.startswith(MARKETING + "."))


def object_to_marketing(session: Session, access: AccessContext, request: DsrRequest) -> dict[str, Any]:
    """Art. 21(2)/(3): an objection to direct marketing withdraws every marketing purpose at once."""
    purposes = marketing_purposes()
    group = subject_group(session, access, request)
    access.require("user.behavior.subscription", action="write")
    for purpose in purposes:
        consent.record(
            session,
            profile_id=group.root.id,
            purpose=purpose,
            status="withdrawn",
            legal_basis="consent",
            jurisdiction=group.root.jurisdiction,
            source="data_subject",
            actor=access.principal.key_id,
        )
    audit_dsr(session, access, request.id, "objection", subject_ids=group.member_ids, categories=[],
              document={"withdrawn": purposes})  # fmt: skip
    return {"withdrawn_purposes": purposes}


def rectify(
    session: Session,
    store: Store,
    access: AccessContext,
    request: DsrRequest,
    traits: Mapping[str, Any],
    identifiers: dict[str, str],
) -> dict[str, Any]:
    """Replace traits and identifiers with corrected values. Old rows are deleted (not overwritten in place)
    and the new values encrypted afresh; an identifier another customer holds is refused."""
    if not traits and not identifiers:
        raise DsrError("a rectification needs the corrected values (traits and/or identifiers)")
    fields = dictionary()
    keystore = store.keystore
    group = subject_group(session, access, request)
    root, members = group.root.id, group.member_ids
    normalized, _ = normalize_identifiers(store.indexer, identifiers, _country(session, store, access, group))
    if len(normalized) != len(identifiers):
        raise DsrError("a corrected identifier is a blocked placeholder value")
    categories = [fields.trait(n).category for n in traits] + [identifier_category(i.kind) for i in normalized]
    for category in categories:
        access.require(category, action="write")
    now = utcnow()
    for name, value in traits.items():
        session.execute(delete(Trait).where(col(Trait.profile_id).in_(members), col(Trait.name) == name))
        if value is None:
            continue
        trait_id = new_id()
        encoded = json.dumps(value, ensure_ascii=False)
        session.execute(
            insert(Trait).values(
                id=trait_id, profile_id=root, name=name, category=fields.trait(name).category,
                value_ct=keystore.encrypt(root, "trait", "value", trait_id, encoded),
                source="data_subject", updated_at=now,
            )
        )  # fmt: skip
    for ident in normalized:
        holder = holder_of(session, ident)
        if holder is not None and holder not in members:
            raise DsrError(f"{ident.kind}: the corrected value belongs to another customer; a person must review")
        if rules()[ident.kind].limit > 1 and holder is not None:
            continue  # already held by this customer
        session.execute(delete(Identity).where(col(Identity.profile_id).in_(members), col(Identity.kind) == ident.kind))
        row_id = new_id()
        session.execute(
            insert(Identity).values(
                id=row_id, profile_id=root, kind=ident.kind, blind_index=ident.blind_index,
                value_ct=keystore.encrypt(root, "identity", "value", row_id, ident.value),
                source="data_subject", created_at=now,
            )
        )  # fmt: skip
    audit_dsr(session, access, request.id, "rectification", subject_ids=members, categories=categories,
              document={"traits": sorted(traits), "identifiers": sorted(identifiers)})  # fmt: skip
    return {"traits": sorted(traits), "identifiers": sorted(identifiers)}


def _country(session: Session, store: Store, access: AccessContext, group: ProfileGroup) -> str | None:
    """The customer's country trait, the default region for a corrected phone number."""
    _, traits = profiles.holdings(session, store, access, group, action="write")
    countries = [t.value for t in traits if t.name == "country"]
    return str(countries[-1]) if countries else None
