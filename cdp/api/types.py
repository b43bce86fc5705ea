"""GraphQL types. Resolvers are thin: they read through the request context and the access gate."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from cdp.api.context import RequestContext
from cdp.api.masking import mask
from cdp.categories import event_category, event_types, identifier_category
from cdp.events.currency import exponent
from cdp.profiles import service as profiles
from cdp.profiles.service import EventView, ProfileGroup

if TYPE_CHECKING:
    from cdp.api.marketing import ComputedTraits

T = TypeVar("T")
MAX_PAGE = 100


class PageSizeError(ValueError):
    pass


def check_first(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise PageSizeError(f"first must be between 1 and {MAX_PAGE}, got {first}")
    return first


def paginate(rows: list[T], first: int, cursor: Callable[[T], str]) -> tuple[list[T], PageInfo]:
    """Split rows fetched with limit `first + 1`: the extra row only tells that another page exists."""
    page = rows[:first]
    return page, PageInfo(has_next_page=len(rows) > first, end_cursor=cursor(page[-1]) if page else None)


def path_of(info: strawberry.Info) -> str:
    keys, node = [], info.path
    while node is not None:
        keys.append(str(node.key))
        node = node.prev
    return ".".join(reversed(keys))


def personal(info: strawberry.Info, group: ProfileGroup, categories: list[str], produce: Callable[[], T]) -> T | None:
    """Every personal value leaves through here: per-subject redaction, then the audit bookkeeping."""
    ctx: RequestContext = info.context
    reason = ctx.access.blocked_reason(ctx.session, group)
    if reason is not None:
        ctx.access.redact(path_of(info), group.root.id, reason)
        return None
    for category in categories:
        ctx.access.returned(group.root.id, category)
    return produce()


@strawberry.type
class Money:
    amount_minor: int
    currency: str

    @strawberry.field(description="Decimal string in the currency's major unit, e.g. '12.50'.")
    def amount(self) -> str:
        return str(Decimal(self.amount_minor).scaleb(-exponent(self.currency)))


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Identity:
    id: strawberry.ID
    profile_id: strawberry.ID
    kind: str
    value: str = strawberry.field(description="Masked unless the identities field was asked with reveal: true.")
    source: str
    created_at: datetime


@strawberry.type
class Trait:
    name: str
    value: JSON
    category: str
    source: str
    updated_at: datetime


@strawberry.type
class Event:
    id: strawberry.ID
    profile_id: strawberry.ID
    source: str
    source_event_id: str
    type: str
    occurred_at: datetime = strawberry.field(description="UTC instant.")
    utc_offset_minutes: int = strawberry.field(description="The customer's local offset when it happened.")
    amount: Money | None
    base_amount: Money | None = strawberry.field(description="Converted with the shipped rates table.")
    properties: JSON

    @classmethod
    def from_view(cls, view: EventView) -> Event:
        return cls(
            id=strawberry.ID(view.id),
            profile_id=strawberry.ID(view.profile_id),
            source=view.source,
            source_event_id=view.source_event_id,
            type=view.type,
            occurred_at=view.occurred_at,
            utc_offset_minutes=view.utc_offset_minutes,
            amount=Money(amount_minor=view.amount_minor, currency=view.currency) if view.currency else None,
            base_amount=Money(amount_minor=view.base_amount_minor, currency=view.base_currency)
            if view.base_currency
            else None,
            properties=view.properties,
        )


@strawberry.type
class EventConnection:
    nodes: list[Event]
    page_info: PageInfo


@strawberry.type
class MergeLink:
    id: strawberry.ID
    survivor_id: strawberry.ID
    absorbed_id: strawberry.ID
    identifier_kind: str
    event_id: strawberry.ID | None
    merged_at: datetime
    unmerged_at: datetime | None


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode()


def decode_cursor(cursor: str, parts: int) -> list[str]:
    try:
        values = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        values = []
    if len(values) != parts:
        raise ValueError("invalid cursor: pass the endCursor of a previous page")
    return values


def _trait_resolver(trait: str) -> Any:
    def resolve(root: Profile, info: strawberry.Info) -> str | None:
        ctx: RequestContext = info.context
        view = ctx.traits(root.group).get(trait)
        if view is None:
            return None
        return personal(info, root.group, [view.category], lambda: str(view.value))

    return strawberry.field(resolver=resolve)


def _identifier_resolver(kind: str) -> Any:
    def resolve(root: Profile, info: strawberry.Info) -> str | None:
        ctx: RequestContext = info.context
        values = [i.value for i in ctx.identities(root.group) if i.kind == kind]
        if not values:
            return None
        return personal(info, root.group, [identifier_category(kind)], lambda: values[0])

    return strawberry.field(resolver=resolve, description=f"The customer's first {kind} (all: identities).")


@strawberry.type
class Profile:
    """A customer: one root profile and every profile merged into it."""

    group: strawberry.Private[ProfileGroup]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.group.root.id)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.group.root.created_at

    @strawberry.field
    def jurisdiction(self) -> str:
        return self.group.root.jurisdiction

    @strawberry.field
    def status(self) -> str:
        return self.group.root.status

    @strawberry.field(description="Profiles merged into this customer (including the root).")
    def member_ids(self) -> list[strawberry.ID]:
        return [strawberry.ID(m) for m in self.group.member_ids]

    email: str | None = _identifier_resolver("email")
    phone: str | None = _identifier_resolver("phone")
    first_name: str | None = _trait_resolver("first_name")
    last_name: str | None = _trait_resolver("last_name")
    full_name: str | None = _trait_resolver("full_name")
    address_line1: str | None = _trait_resolver("address_line1")
    address_line2: str | None = _trait_resolver("address_line2")
    city: str | None = _trait_resolver("city")
    region: str | None = _trait_resolver("region")
    postal_code: str | None = _trait_resolver("postal_code")
    country: str | None = _trait_resolver("country")
    birthday: str | None = _trait_resolver("birthday")
    gender: str | None = _trait_resolver("gender")
    language: str | None = _trait_resolver("language")
    timezone: str | None = _trait_resolver("timezone")

    @strawberry.field(description="Every trait, declared or not, whose category the purpose may read.")
    def traits(self, info: strawberry.Info) -> list[Trait] | None:
        ctx: RequestContext = info.context
        views = [v for v in ctx.traits(self.group).values() if ctx.access.allows(v.category)]
        return personal(
            info,
            self.group,
            [v.category for v in views],
            lambda: [
                Trait(name=v.name, value=v.value, category=v.category, source=v.source, updated_at=v.updated_at)
                for v in views
            ],
        )

    @strawberry.field(description="Identifiers whose category the purpose may read; masked unless reveal.")
    def identities(self, info: strawberry.Info, reveal: bool = False) -> list[Identity] | None:
        ctx: RequestContext = info.context
        views = [v for v in ctx.identities(self.group) if ctx.access.allows(identifier_category(v.kind))]
        return personal(
            info,
            self.group,
            [identifier_category(v.kind) for v in views],
            lambda: [
                Identity(
                    id=strawberry.ID(v.id),
                    profile_id=strawberry.ID(v.profile_id),
                    kind=v.kind,
                    value=v.value if reveal else mask(v.kind, v.value),
                    source=v.source,
                    created_at=v.created_at,
                )
                for v in views
            ],
        )

    @strawberry.field(description="Newest first. Without types: every type whose category the purpose may read.")
    def events(
        self, info: strawberry.Info, first: int = 20, after: str | None = None, types: list[str] | None = None
    ) -> EventConnection | None:
        ctx: RequestContext = info.context
        check_first(first)
        readable = types or [t for t in event_types() if ctx.access.allows(event_category(t))]
        cursor = None
        if after:
            at, event_id = decode_cursor(after, 2)
            cursor = (datetime.fromisoformat(at), event_id)

        def page() -> EventConnection:
            rows = profiles.events(
                ctx.session, ctx.store, self.group.member_ids, first=first + 1, after=cursor, types=readable
            )
            nodes, page_info = paginate(rows, first, lambda r: encode_cursor(r.occurred_at.isoformat(), r.id))
            for row in nodes:
                ctx.access.returned(self.group.root.id, event_category(row.type))
            return EventConnection(nodes=[Event.from_view(r) for r in nodes], page_info=page_info)

        return personal(info, self.group, [], page)

    @strawberry.field(description="RFM, CLV, churn and lifecycle stage (cdp traits compute); null until computed.")
    def computed_traits(
        self, info: strawberry.Info
    ) -> Annotated[ComputedTraits, strawberry.lazy("cdp.api.marketing")] | None:
        from cdp.api.marketing import resolve_computed_traits  # the marketing module builds on these types

        return resolve_computed_traits(self, info)

    @strawberry.field(description="Merge links of this customer (who was merged into whom, why, when).")
    def merges(self, info: strawberry.Info) -> list[MergeLink]:
        ctx: RequestContext = info.context
        return [
            MergeLink(
                id=strawberry.ID(m.id),
                survivor_id=strawberry.ID(m.survivor_id),
                absorbed_id=strawberry.ID(m.absorbed_id),
                identifier_kind=m.identifier_kind,
                event_id=strawberry.ID(m.event_id) if m.event_id else None,
                merged_at=m.merged_at,
                unmerged_at=m.unmerged_at,
            )
            for m in profiles.merge_records(ctx.session, self.group.member_ids)
        ]


@strawberry.type
class ProfileConnection:
    nodes: list[Profile]
    page_info: PageInfo
