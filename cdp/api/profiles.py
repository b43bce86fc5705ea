"""Profiles over GraphQL: look-ups, pagination, ingestion (merges and reviews: cdp/api/identity.py)."""

from __future__ import annotations

import enum

import strawberry
from strawberry.scalars import JSON

from cdp.api.context import RequestContext
from cdp.api.types import Profile, ProfileConnection, check_first, decode_cursor, encode_cursor, paginate
from cdp.identity.groups import ProfileNotFound
from cdp.ingest.service import INGEST_ATTEMPTS, ingest
from cdp.profiles import service as profiles


def _ctx(info: strawberry.Info) -> RequestContext:
    return info.context


def _visible_group(info: strawberry.Info, profile_id: str) -> Profile:
    ctx = _ctx(info)
    return Profile(group=profiles.customer(ctx.session, ctx.access, profile_id))


@strawberry.enum
class IdentifierKind(enum.Enum):
    email = "email"
    phone = "phone"
    shopify_customer_id = "shopify_customer_id"
    amazon_buyer_id = "amazon_buyer_id"
    external_id = "external_id"
    device_id = "device_id"
    anonymous_id = "anonymous_id"


@strawberry.type
class IngestOutcome:
    index: int
    status: str = strawberry.field(description="stored | duplicate | rejected")
    event_id: strawberry.ID | None
    profile_id: strawberry.ID | None
    errors: list[str]
    warnings: list[str]
    merged_profile_ids: list[strawberry.ID]
    review_item_id: strawberry.ID | None


@strawberry.type
class ProfileQuery:
    @strawberry.field(description="A customer by the id of any profile in its merge group.")
    def profile(self, info: strawberry.Info, id: strawberry.ID) -> Profile | None:
        try:
            return _visible_group(info, str(id))
        except ProfileNotFound:
            return None

    @strawberry.field(description="Look a customer up by an identifier (exact match on the normalized value).")
    def profile_by_identifier(
        self, info: strawberry.Info, kind: IdentifierKind, value: str, country: str | None = None
    ) -> Profile | None:
        ctx = _ctx(info)
        group = profiles.find_by_identifier(ctx.session, ctx.store, ctx.access, kind.value, value, country)
        return Profile(group=group) if group is not None else None

    @strawberry.field(description="Customers (root profiles), cursor-paginated in id order.")
    def profiles(self, info: strawberry.Info, first: int = 20, after: str | None = None) -> ProfileConnection:
        ctx = _ctx(info)
        check_first(first)
        after_id = decode_cursor(after, 1)[0] if after else None
        groups, page_info = paginate(
            profiles.customers(ctx.session, ctx.access, first=first + 1, after=after_id),
            first,
            lambda g: encode_cursor(g.root.id),
        )
        ctx.prime(groups)
        return ProfileConnection(nodes=[Profile(group=g) for g in groups], page_info=page_info)


@strawberry.type
class ProfileMutation:
    @strawberry.mutation(
        description="Ingest events in the documented format; each is stored, a duplicate, or "
        "rejected with reasons. Good events are stored even when others are rejected."
    )
    def ingest_events(self, info: strawberry.Info, events: list[JSON]) -> list[IngestOutcome]:
        ctx = _ctx(info)
        # The browser that sent these events may ask not to sell or share its user's data (Sec-GPC: 1).
        outcomes = ctx.store.run(
            lambda session: ingest(session, ctx.store, ctx.access, events, gpc=ctx.gpc), attempts=INGEST_ATTEMPTS
        )
        return [
            IngestOutcome(
                index=o.index,
                status=o.status,
                event_id=strawberry.ID(o.event_id) if o.event_id else None,
                profile_id=strawberry.ID(o.profile_id) if o.profile_id else None,
                errors=o.errors,
                warnings=o.warnings,
                merged_profile_ids=[strawberry.ID(p) for p in o.merged_profile_ids],
                review_item_id=strawberry.ID(o.review_item_id) if o.review_item_id else None,
            )
            for o in outcomes
        ]
