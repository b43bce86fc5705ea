"""Reading profiles: a merge group seen as one customer, values decrypted in the service layer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cdp.events.models import Event
from cdp.identity.models import Identity, MergeRecord, Profile
from cdp.identity.resolve import group_members, holder_of, normalize_identifiers, root_of
from cdp.profiles.models import Trait
from cdp.store import Store


class ProfileNotFound(LookupError):
    pass


@dataclass(frozen=True)
class IdentityView:
    id: str
    profile_id: str
    kind: str
    value: str
    source: str
    created_at: datetime


@dataclass(frozen=True)
class TraitView:
    profile_id: str
    name: str
    value: Any
    category: str
    source: str
    updated_at: datetime


@dataclass(frozen=True)
class EventView:
    id: str
    profile_id: str
    source: str
    source_event_id: str
    type: str
    occurred_at: datetime
    utc_offset_minutes: int
    amount_minor: int | None
    currency: str | None
    base_amount_minor: int | None
    base_currency: str | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class ProfileGroup:
    """A customer: the root profile and every profile merged into it."""

    root: Profile
    member_ids: list[str]


def load_group(session: Session, profile_id: str) -> ProfileGroup:
    if session.get(Profile, profile_id) is None:
        raise ProfileNotFound(f"no profile with id {profile_id}")
    root_id = root_of(session, profile_id)
    root = session.get(Profile, root_id)
    assert root is not None
    return ProfileGroup(root, group_members(session, root_id))


def find_by_identifier(session: Session, store: Store, kind: str, value: str, country: str | None = None) -> str | None:
    """Root profile id holding this identifier, through its blind index; None when nobody does."""
    normalized, _ = normalize_identifiers(store.indexer, {kind: value}, country)
    if not normalized:
        return None
    holder = holder_of(session, normalized[0])
    return root_of(session, holder) if holder else None


def identities(session: Session, store: Store, member_ids: list[str]) -> list[IdentityView]:
    rows = session.execute(
        select(Identity).where(Identity.profile_id.in_(member_ids)).order_by(Identity.created_at, Identity.id)
    ).scalars()
    return [
        IdentityView(
            r.id,
            r.profile_id,
            r.kind,
            store.keystore.decrypt(r.profile_id, "identity", "value", r.id, r.value_ct),
            r.source,
            r.created_at,
        )
        for r in rows
    ]


def trait_views(session: Session, store: Store, member_ids: list[str]) -> list[TraitView]:
    """Every trait row of these profiles, oldest observation first."""
    rows = session.execute(
        select(Trait).where(Trait.profile_id.in_(member_ids)).order_by(Trait.updated_at, Trait.id)
    ).scalars()
    return [
        TraitView(
            r.profile_id,
            r.name,
            json.loads(store.keystore.decrypt(r.profile_id, "trait", "value", r.id, r.value_ct)),
            r.category,
            r.source,
            r.updated_at,
        )
        for r in rows
    ]


def latest_traits(views: list[TraitView]) -> dict[str, TraitView]:
    """The newest value per trait name (views must be oldest first)."""
    return {v.name: v for v in views}


def traits(session: Session, store: Store, member_ids: list[str]) -> dict[str, TraitView]:
    return latest_traits(trait_views(session, store, member_ids))


def events(
    session: Session,
    store: Store,
    member_ids: list[str],
    *,
    first: int,
    after: tuple[datetime, str] | None = None,
    types: list[str] | None = None,
) -> list[EventView]:
    """Newest first; keyset pagination on (occurred_at, id)."""
    query = select(Event).where(Event.profile_id.in_(member_ids))
    if types:
        query = query.where(Event.type.in_(types))
    if after is not None:
        at, event_id = after
        query = query.where((Event.occurred_at < at) | ((Event.occurred_at == at) & (Event.id < event_id)))
    rows = session.execute(query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(first)).scalars()
    return [
        EventView(
            r.id,
            r.profile_id,
            r.source,
            r.source_event_id,
            r.type,
            r.occurred_at,
            r.utc_offset_minutes,
            r.amount_minor,
            r.currency,
            r.base_amount_minor,
            r.base_currency,
            json.loads(store.keystore.decrypt(r.profile_id, "event", "properties", r.id, r.properties_ct)),
        )
        for r in rows
    ]


def merge_records(session: Session, member_ids: list[str]) -> list[MergeRecord]:
    return list(
        session.execute(
            select(MergeRecord)
            .where(MergeRecord.survivor_id.in_(member_ids) | MergeRecord.absorbed_id.in_(member_ids))
            .order_by(MergeRecord.merged_at)
        ).scalars()
    )


def list_roots(session: Session, *, first: int, after: str | None = None) -> list[Profile]:
    """Customers (root profiles) in id order, for cursor pagination."""
    query = select(Profile).where(Profile.merged_into.is_(None))
    if after:
        query = query.where(Profile.id > after)
    return list(session.execute(query.order_by(Profile.id).limit(first)).scalars())
