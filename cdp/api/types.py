"""GraphQL types. Resolvers are thin: they read through the request context and the access gate."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from graphql.pyutils import Path
from strawberry.scalars import JSON

from cdp.api.context import RequestContext
from cdp.api.masking import mask
from cdp.events.currency import exponent
from cdp.identity.groups import ProfileGroup
from cdp.profiles import service as profiles
from cdp.profiles.service import CustomerView, EventView

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
    keys: list[str] = []
    node: Path | None = info.path
    while node is not None:
        keys.append(str(node.key))
        node = node.prev
    return ".".join(reversed(keys))


def visible(info: strawberry.Info, group: ProfileGroup) -> CustomerView | None:
    """The customer as this request may see it, or None (reported in extensions.redactions) when blocked."""
    ctx: RequestContext = info.context
    view = ctx.view(group)
    if view.blocked is not None:
        view.redact(path_of(info))
        return None
    return view


@strawberry.type
class Money:
    amount_minor: int
    currency: str

    @staticmethod
    def of(amount_minor: int | None, currency: str | None) -> Money | None:
        """An event's amount, if it has one (ingest stores the amount and its currency together)."""
        return Money(amount_minor=amount_minor, currency=currency) if currency and amount_minor is not None else None

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
            amount=Money.of(view.amount_minor, view.currency),
            base_amount=Money.of(view.base_amount_minor, view.base_currency),
            properties=JSON(view.properties),
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
        view = visible(info, root.group)
        value = view.trait(trait) if view is not None else None
        return str(value.value) if value is not None else None

    return strawberry.field(resolver=resolve)


def _identifier_resolver(kind: str) -> Any:
    def resolve(root: Profile, info: strawberry.Info) -> str | None:
        view = visible(info, root.group)
        values = view.identities(kind)[:1] if view is not None else []
        return values[0].value if values else None

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
        view = visible(info, self.group)
        if view is None:
            return None
        return [
            Trait(name=v.name, value=v.value, category=v.category, source=v.source, updated_at=v.updated_at)
            for v in view.traits()
        ]

    @strawberry.field(description="Identifiers whose category the purpose may read; masked unless reveal.")
    def identities(self, info: strawberry.Info, reveal: bool = False) -> list[Identity] | None:
        view = visible(info, self.group)
        if view is None:
            return None
        return [
            Identity(
                id=strawberry.ID(v.id),
                profile_id=strawberry.ID(v.profile_id),
                kind=v.kind,
                value=v.value if reveal else mask(v.kind, v.value),
                source=v.source,
                created_at=v.created_at,
            )
            for v in view.identities()
        ]

    @strawberry.field(
        description="Newest first. Without types: every type whose category the purpose may read (none: empty). "
        "Ticket and review text is redacted unless the purpose may read unredacted free text."
    )
    def events(
        self, info: strawberry.Info, first: int = 20, after: str | None = None, types: list[str] | None = None
    ) -> EventConnection | None:
        ctx: RequestContext = info.context
        check_first(first)
        cursor = None
        if after:
            at, event_id = decode_cursor(after, 2)
            cursor = (datetime.fromisoformat(at), event_id)
        view = visible(info, self.group)
        if view is None:
            return None
        rows = profiles.events(ctx.session, ctx.store, ctx.access, view, first=first + 1, after=cursor, types=types)
        nodes, page_info = paginate(rows, first, lambda r: encode_cursor(r.occurred_at.isoformat(), r.id))
        return EventConnection(nodes=[Event.from_view(r) for r in nodes], page_info=page_info)

    @strawberry.field(description="RFM, CLV, churn and lifecycle stage (cdp traits compute); null until computed.")
    def computed_traits(
        self, info: strawberry.Info
    ) -> Annotated[ComputedTraits, strawberry.lazy("cdp.api.marketing")] | None:
        from cdp.api.marketing import resolve_computed_traits  # the marketing module builds on these types

        return resolve_computed_traits(self, info)

    @strawberry.field(description="Merge links of this customer (who was merged into whom, why, when).")
    def merges(self, info: strawberry.Info) -> list[MergeLink] | None:
        ctx: RequestContext = info.context
        view = visible(info, self.group)
        if view is None:
            return None
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
            for m in profiles.merge_records(ctx.session, ctx.access, view)
        ]


@strawberry.type
class ProfileConnection:
    nodes: list[Profile]
    page_info: PageInfo
