"""Governed reads of customers: every personal value of a profile leaves through this module.

Each function takes the caller's `AccessContext` and enforces, itself, what every door would otherwise have
to remember: subject scope (a data-subject token sees only its own merge group), the per-subject block
(erased, restricted, no consent for the purpose) and role x purpose x category grants. Only granted values are
decrypted. What a caller is handed is recorded on the context (subject, category) for the operation's audit
entry; a read that returns nothing readable returns nothing — an empty grant is never "no filter".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.access.gate import AccessContext
from cdp.categories import event_category, event_types, identifier_category
from cdp.db import table_of
from cdp.dictionary import dictionary
from cdp.events.models import Event
from cdp.events.schema import FREE_TEXT
from cdp.identity.groups import ProfileGroup, group_of, load_group, load_groups, merge_links
from cdp.identity.models import Identity, MergeRecord, Profile
from cdp.identity.resolve import holding_profile, normalize_identifiers
from cdp.profiles.models import Trait
from cdp.retention.policy import hold_key_owner
from cdp.store import Store

# The ids and link structure of a merge group name no one by themselves: reading them needs the unique-id
# grant, like the identifiers that caused the merges.
MERGE_CATEGORY = "user.unique_id"


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


class CustomerView:
    """What one request may see of one customer. Values are handed out through methods that record them for
    the audit entry; a blocked customer (erased, restricted, no consent) hands out nothing."""

    def __init__(
        self,
        access: AccessContext,
        group: ProfileGroup,
        blocked: str | None,
        traits: dict[str, TraitView],
        identities: list[IdentityView],
    ) -> None:
        self._access, self.group, self.blocked = access, group, blocked
        self._traits, self._identities = traits, identities

    @property
    def root_id(self) -> str:
        return self.group.root.id

    def redact(self, path: str) -> None:
        """Report a field left null for this subject in the response's `extensions.redactions`."""
        assert self.blocked is not None
        self._access.redact(path, self.root_id, self.blocked)

    def trait(self, name: str) -> TraitView | None:
        view = self._traits.get(name)
        if view is not None:
            self._access.returned(self.root_id, view.category)
        return view

    def traits(self) -> list[TraitView]:
        for view in self._traits.values():
            self._access.returned(self.root_id, view.category)
        return list(self._traits.values())

    def identities(self, kind: str | None = None) -> list[IdentityView]:
        views = [v for v in self._identities if kind is None or v.kind == kind]
        for view in views:
            self._access.returned(self.root_id, identifier_category(view.kind))
        return views


def customer(session: Session, access: AccessContext, profile_id: str) -> ProfileGroup:
    """The customer holding `profile_id` (any member of its merge group), if this principal may see it."""
    group = load_group(session, profile_id)
    access.check_subject(group.member_ids)
    return group


def customers(session: Session, access: AccessContext, *, first: int, after: str | None = None) -> list[ProfileGroup]:
    """Customers (root profiles) in id order, for cursor pagination; a data-subject token gets only its own."""
    own = access.principal.profile_id
    if own is not None:
        return [customer(session, access, own)] if after is None else []
    query = select(Profile).where(col(Profile.merged_into).is_(None))
    if after:
        query = query.where(col(Profile.id) > after)
    return load_groups(session, list(session.execute(query.order_by(col(Profile.id)).limit(first)).scalars()))


def find_by_identifier(
    session: Session, store: Store, access: AccessContext, kind: str, value: str, country: str | None = None
) -> ProfileGroup | None:
    """The customer holding this identifier (blind index on the normalized value). Whether anyone holds it is
    itself personal data: it needs the identifier's read grant, and a hit is audited as a read of it."""
    category = identifier_category(kind)
    access.require(category, field=f"profileByIdentifier(kind: {kind})")
    normalized, _ = normalize_identifiers(store.indexer, {kind: value}, country)
    holder = holding_profile(session, normalized[0]) if normalized else None
    if holder is None:
        return None
    group = group_of(session, holder)
    access.check_subject(group.member_ids)
    access.returned(group.root.id, category)
    return group


def views(session: Session, store: Store, access: AccessContext, groups: list[ProfileGroup]) -> list[CustomerView]:
    """A page of customers as this request may see them: one query per table for the whole page, and only
    the granted identifiers and traits of unblocked customers decrypted."""
    for group in groups:
        access.check_subject(group.member_ids)
    blocked = access.blocked_reasons(session, groups)
    owner = {member: g.root.id for g in groups if blocked[g.root.id] is None for member in g.member_ids}
    identities: dict[str, list[IdentityView]] = {g.root.id: [] for g in groups}
    traits: dict[str, dict[str, TraitView]] = {g.root.id: {} for g in groups}
    readable_kinds = [k for k in dictionary().identifiers if access.allows(identifier_category(k))]
    store.keystore.prefetch(owner)  # the page's data keys in one key-store query, not one per customer
    for identity in _identities(session, store, list(owner), readable_kinds):
        identities[owner[identity.profile_id]].append(identity)
    for trait in _traits(session, store, list(owner), lambda category: access.allows(category)):
        traits[owner[trait.profile_id]][trait.name] = trait  # oldest first: the newest observation wins
    return [CustomerView(access, g, blocked[g.root.id], traits[g.root.id], identities[g.root.id]) for g in groups]


def holdings(
    session: Session, store: Store, access: AccessContext, group: ProfileGroup, *, action: str
) -> tuple[list[IdentityView], list[TraitView]]:
    """Every identifier and trait row held about a customer, for data-subject rights (access export,
    rectification, the verification email). No per-subject block applies — the right of access holds during a
    restriction — but the caller must be granted `action` on every category held."""
    access.check_subject(group.member_ids)
    members = group.member_ids
    kinds = list(
        session.execute(select(col(Identity.kind)).where(col(Identity.profile_id).in_(members)).distinct()).scalars()
    )
    categories = set(
        session.execute(select(col(Trait.category)).where(col(Trait.profile_id).in_(members)).distinct()).scalars()
    )
    for category in sorted(categories | {identifier_category(k) for k in kinds}):
        access.require(category, action=action)
    return _identities(session, store, members, kinds), _traits(session, store, members, lambda _: True)


def _identities(session: Session, store: Store, members: list[str], kinds: list[str]) -> list[IdentityView]:
    if not members or not kinds:
        return []
    cols = table_of(Identity).c  # plain rows, not ORM objects: read once, decrypted, dropped
    # The kinds are filtered here, before decryption, not in SQL: with `kind IN (...)` in the query SQLite chose
    # the (kind, blind_index) index and read every identifier of those kinds in the store to find a page's.
    wanted = set(kinds)
    rows = [
        r
        for r in session.execute(
            select(cols.id, cols.profile_id, cols.kind, cols.value_ct, cols.source, cols.created_at)
            .where(cols.profile_id.in_(members))
            .order_by(cols.created_at, cols.id)
        )
        if r.kind in wanted
    ]
    values = store.keystore.decrypt_many("identity", "value", [(r.profile_id, r.id, r.value_ct) for r in rows])
    return [
        IdentityView(r.id, r.profile_id, r.kind, value, r.source, r.created_at)
        for r, value in zip(rows, values, strict=True)
    ]


def _traits(session: Session, store: Store, members: list[str], granted: Callable[[str], bool]) -> list[TraitView]:
    """Trait rows of these profiles whose category is granted, oldest observation first."""
    if not members:
        return []
    cols = table_of(Trait).c  # plain rows, not ORM objects
    rows = [
        t
        for t in session.execute(
            select(cols.id, cols.profile_id, cols.name, cols.value_ct, cols.category, cols.source, cols.updated_at)
            .where(cols.profile_id.in_(members))
            .order_by(cols.updated_at, cols.id)
        )
        if granted(t.category)
    ]
    values = store.keystore.decrypt_many("trait", "value", [(t.profile_id, t.id, t.value_ct) for t in rows])
    return [
        TraitView(t.profile_id, t.name, json.loads(value), t.category, t.source, t.updated_at)
        for t, value in zip(rows, values, strict=True)
    ]


def events(
    session: Session,
    store: Store,
    access: AccessContext,
    view: CustomerView,
    *,
    first: int,
    after: tuple[datetime, str] | None = None,
    types: list[str] | None = None,
) -> list[EventView]:
    """Newest first; keyset pagination on (occurred_at, id). Asked-for types must all be readable (the error
    names the first that is not); without types, the readable ones — and none readable means no events.
    Free text is the redacted copy unless the unredacted-text category is granted too."""
    if view.blocked is not None:
        return []
    if types:
        for event_type in types:
            access.require(event_category(event_type), field=f"Profile.events(types: {event_type})")
        readable = list(dict.fromkeys(types))
    else:
        readable = [t for t in event_types() if access.allows(event_category(t))]
    if not readable:
        return []
    query = select(Event).where(col(Event.profile_id).in_(view.group.member_ids), col(Event.type).in_(readable))
    if after is not None:
        at, event_id = after
        # (occurred_at, id) < (at, event_id), written so that the bound on occurred_at alone is a range the index
        # (profile_id, occurred_at, id) starts from: a page deep in the history does not walk the newer events.
        query = query.where(col(Event.occurred_at) <= at, (col(Event.occurred_at) < at) | (col(Event.id) < event_id))
    rows = list(
        session.execute(query.order_by(col(Event.occurred_at).desc(), col(Event.id).desc()).limit(first)).scalars()
    )
    raw_text = access.allows(dictionary().unredacted_free_text.category)
    erased = view.group.root.status == "erased"  # only rows under a legal hold are left, under their hold key
    owners = [hold_key_owner(r.profile_id) if erased else r.profile_id for r in rows]
    texts = store.keystore.decrypt_many(
        "event", "properties", [(owner, r.id, r.properties_ct) for owner, r in zip(owners, rows, strict=True)]
    )  # one key look-up for the page, not one per event
    result = []
    for r, text in zip(rows, texts, strict=True):
        properties = json.loads(text)
        if not raw_text and r.type in FREE_TEXT:
            properties = _redacted(store, r, properties)
        access.returned(view.root_id, event_category(r.type))
        result.append(
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
                properties,
            )  # fmt: skip
        )
    return result


def _redacted(store: Store, row: Event, properties: dict[str, Any]) -> dict[str, Any]:
    """The properties with each free-text value replaced by its redacted copy; a free-text value without one
    (classification was off when it was stored) is withheld rather than served raw."""
    copies: dict[str, str] = {}
    if row.redacted_ct is not None:
        copies = json.loads(store.keystore.decrypt(row.profile_id, "event", "redacted_text", row.id, row.redacted_ct))
    return {key: copies.get(key) if key in FREE_TEXT[row.type] else value for key, value in properties.items()}


def merge_records(session: Session, access: AccessContext, view: CustomerView) -> list[MergeRecord]:
    """Who was merged into whom, why and when: ids only, behind the unique-id grant."""
    access.require(MERGE_CATEGORY, field="Profile.merges")
    if view.blocked is not None:
        return []
    access.returned(view.root_id, MERGE_CATEGORY)
    return merge_links(session, view.group.member_ids)
