"""Marketing over GraphQL: computed traits on a profile, segments (define, evaluate, list), consented member
lists and k-floored aggregates. Resolvers translate; cdp.traits and cdp.segments do the work."""

from __future__ import annotations

import enum
import json
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types.nodes import SelectedField, Selection

from cdp.api.context import RequestContext
from cdp.api.types import Money, PageInfo, check_first, decode_cursor, encode_cursor, paginate, visible
from cdp.categories import camel, computed_trait_fields
from cdp.segments import aggregates as aggregate_service
from cdp.segments import audience, service
from cdp.segments.language import parse
from cdp.segments.models import Segment as SegmentRow
from cdp.traits.service import ComputedView, computed_traits


def _money(minor: int | None, currency: str | None) -> Money | None:
    return Money(amount_minor=minor, currency=currency) if minor is not None and currency else None


def _fields(selections: list[Selection]) -> list[SelectedField]:
    """Selected fields, through fragments and inline fragments."""
    found: list[SelectedField] = []
    for s in selections:
        found.extend([s] if isinstance(s, SelectedField) else _fields(s.selections))
    return found


def _selected(info: strawberry.Info, *path: str) -> list[str]:
    """Names of the fields selected under this field (following `path`)."""
    fields = _fields(info.selected_fields[0].selections)
    for name in path:
        fields = [c for f in fields if f.name == name for c in _fields(f.selections)]
    return [f.name for f in fields if not f.name.startswith("__")]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).replace("12m", "_12m").replace("__", "_")


@strawberry.type
class ComputedTraits:
    view: strawberry.Private[ComputedView]

    @strawberry.field
    def computed_at(self) -> datetime:
        return self.view.computed_at

    @strawberry.field
    def order_count(self) -> int:
        return self.view.order_count

    @strawberry.field(description="1-5, 5 = the most recent 20% of the seller's buying customers.")
    def r_score(self) -> int | None:
        return self.view.r_score

    @strawberry.field(description="1-5 by order count.")
    def f_score(self) -> int | None:
        return self.view.f_score

    @strawberry.field(description="1-5 by spend over the last 12 months.")
    def m_score(self) -> int | None:
        return self.view.m_score

    @strawberry.field(description="1-5 quintile of the predicted 12-month CLV.")
    def clv_tier(self) -> int | None:
        return self.view.clv_tier

    @strawberry.field(description="new | active | at_risk | churned | won_back; null without orders.")
    def lifecycle_stage(self) -> str | None:
        return self.view.lifecycle_stage

    @strawberry.field
    def preferred_language(self) -> str | None:
        return self.view.language

    @strawberry.field
    def preferred_timezone(self) -> str | None:
        return self.view.values.get("timezone")

    @strawberry.field(description="The preferred time zone's UTC offset now, in minutes.")
    def utc_offset_minutes(self) -> int | None:
        return self.view.utc_offset_minutes

    @strawberry.field(description="The currency most of the customer's orders were paid in.")
    def preferred_currency(self) -> str | None:
        return self.view.currency

    @strawberry.field
    def birth_month(self) -> int | None:
        return self.view.birth_month

    @strawberry.field(description="Source of the first order.")
    def channel(self) -> str | None:
        return self.view.channel

    @strawberry.field(description="YYYY-MM of the first order.")
    def cohort_month(self) -> str | None:
        return self.view.cohort_month

    @strawberry.field
    def recency_days(self) -> float | None:
        return self.view.values["recency_days"]

    @strawberry.field(description="Spend over the last 12 months, in the base currency.")
    def monetary(self) -> Money | None:
        return _money(self.view.values["monetary_minor"], self.view.values["base_currency"])

    @strawberry.field(description="Average order value, in the base currency.")
    def aov(self) -> Money | None:
        return _money(self.view.values["aov_minor"], self.view.values["base_currency"])

    @strawberry.field(description="Everything the customer has spent, in the base currency.")
    def historic_clv(self) -> Money | None:
        return _money(self.view.values["historic_clv_minor"], self.view.values["base_currency"])

    @strawberry.field
    def first_order_at(self) -> datetime | None:
        value = self.view.values["first_order_at"]
        return datetime.fromisoformat(value) if value else None

    @strawberry.field
    def last_order_at(self) -> datetime | None:
        value = self.view.values["last_order_at"]
        return datetime.fromisoformat(value) if value else None

    @strawberry.field(description="BG/NBD expected purchases over the next 12 months.")
    def predicted_purchases_12m(self) -> float | None:
        return self.view.values["predicted_purchases_12m"]

    @strawberry.field(description="BG/NBD x Gamma-Gamma spend over the next 12 months (undiscounted).")
    def predicted_clv_12m(self) -> Money | None:
        return _money(self.view.values["predicted_clv_12m_minor"], self.view.values["base_currency"])

    @strawberry.field(description="BG/NBD probability that the customer is still active.")
    def probability_alive(self) -> float | None:
        return self.view.values["probability_alive"]


def resolve_computed_traits(root: strawberry.Parent, info: strawberry.Info) -> ComputedTraits | None:
    """Profile.computedTraits: per-subject redaction and audit like every personal field."""
    ctx: RequestContext = info.context
    customer = visible(info, root.group)
    if customer is None:
        return None
    by_field = {camel(f): c for f, c in computed_trait_fields().items()}
    chosen = [by_field[name] for name in map(camel, _selected(info)) if name in by_field]
    view = computed_traits(ctx.session, ctx.store, ctx.access, customer, chosen)
    return ComputedTraits(view=view) if view is not None else None


@strawberry.type
class SegmentMember:
    id: strawberry.ID
    entered_at: datetime
    fields: strawberry.Private[dict]

    @classmethod
    def of(cls, member: audience.Member) -> SegmentMember:
        return cls(id=strawberry.ID(member.profile_id), entered_at=member.entered_at, fields=member.fields)

    @strawberry.field
    def email(self) -> str | None:
        return self.fields.get("email")

    @strawberry.field
    def first_name(self) -> str | None:
        return self.fields.get("first_name")

    @strawberry.field
    def country(self) -> str | None:
        return self.fields.get("country")

    @strawberry.field
    def language(self) -> str | None:
        return self.fields.get("language")

    @strawberry.field
    def timezone(self) -> str | None:
        return self.fields.get("timezone")

    @strawberry.field
    def utc_offset_minutes(self) -> int | None:
        return self.fields.get("utc_offset_minutes")

    @strawberry.field
    def currency(self) -> str | None:
        return self.fields.get("currency")

    @strawberry.field
    def order_count(self) -> int | None:
        return self.fields.get("order_count")

    @strawberry.field
    def r_score(self) -> int | None:
        return self.fields.get("r_score")

    @strawberry.field
    def f_score(self) -> int | None:
        return self.fields.get("f_score")

    @strawberry.field
    def m_score(self) -> int | None:
        return self.fields.get("m_score")

    @strawberry.field
    def clv_tier(self) -> int | None:
        return self.fields.get("clv_tier")

    @strawberry.field
    def lifecycle_stage(self) -> str | None:
        return self.fields.get("lifecycle_stage")

    @strawberry.field(description="Predicted 12-month CLV in minor units of the base currency.")
    def predicted_clv_12m_minor(self) -> int | None:
        return self.fields.get("predicted_clv_12m_minor")

    @strawberry.field
    def probability_alive(self) -> float | None:
        return self.fields.get("probability_alive")


@strawberry.type
class SegmentMemberConnection:
    nodes: list[SegmentMember]
    page_info: PageInfo


@strawberry.type
class Segment:
    row: strawberry.Private[SegmentRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row.id)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def version(self) -> int:
        return self.row.version

    @strawberry.field
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="The condition (the `where` of the segment file).")
    def definition(self) -> JSON:
        return json.loads(self.row.definition)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def evaluated_at(self) -> datetime | None:
        return self.row.evaluated_at

    @strawberry.field(description="Members the request's purpose may reach (consent, restriction, cross-border).")
    def size(self, info: strawberry.Info, destination_country: str) -> int:
        ctx: RequestContext = info.context
        return audience.member_count(ctx.session, ctx.access, self.row.id, destination_country=destination_country)

    @strawberry.field(
        description="Members the request's purpose may reach, in id order; `since`: only those who joined at or "
        "after it. Customers without permission are absent. `destinationCountry`: where the data goes (ISO code)."
    )
    def members(
        self,
        info: strawberry.Info,
        destination_country: str,
        first: int = 20,
        after: str | None = None,
        since: datetime | None = None,
    ) -> SegmentMemberConnection:
        ctx: RequestContext = info.context
        check_first(first)
        after_id = decode_cursor(after, 1)[0] if after else None
        fields = [_snake(f) for f in _selected(info, "nodes") if f not in ("id", "enteredAt")]
        _, members = audience.member_page(
            ctx.session, ctx.store, ctx.access, self.row.id, destination_country=destination_country,
            first=first + 1, after=after_id, since=since, fields=fields,
        )  # fmt: skip
        page, page_info = paginate(members, first, lambda m: encode_cursor(m.profile_id))
        return SegmentMemberConnection(nodes=[SegmentMember.of(m) for m in page], page_info=page_info)


@strawberry.enum
class AggregateDimension(enum.Enum):
    country = "country"
    channel = "channel"
    segment = "segment"
    month = "month"


@strawberry.type
class MarketingAggregate:
    group: str
    customers: int
    repeat_purchase_rate: float
    aov: Money
    historic_clv: Money = strawberry.field(description="Mean spend to date per customer.")
    predicted_clv_12m: Money | None = strawberry.field(description="Mean predicted 12-month CLV.")
    churn_rate: float


@strawberry.type
class MarketingQuery:
    @strawberry.field(description="The latest version of every segment.")
    def segments(self, info: strawberry.Info) -> list[Segment]:
        ctx: RequestContext = info.context
        return [Segment(row=r) for r in service.list_segments(ctx.session, ctx.access)]

    @strawberry.field(description="A segment by id (any version) or name (latest version).")
    def segment(self, info: strawberry.Info, id: strawberry.ID) -> Segment:
        ctx: RequestContext = info.context
        return Segment(row=service.get_segment(ctx.session, ctx.access, str(id)))

    @strawberry.field(
        description="Repeat-purchase rate, AOV, CLV and churn per group over the customers the purpose may "
        "reach; groups of fewer than k customers (at least the configured floor, 10) are left out."
    )
    def marketing_aggregates(
        self, info: strawberry.Info, by: AggregateDimension, k: int | None = None
    ) -> list[MarketingAggregate]:
        ctx: RequestContext = info.context
        rows = aggregate_service.aggregates(ctx.session, ctx.store, ctx.access, by.value, k=k)
        return [
            MarketingAggregate(
                group=r.group,
                customers=r.customers,
                repeat_purchase_rate=r.repeat_purchase_rate,
                aov=Money(amount_minor=r.aov_minor, currency=r.currency),
                historic_clv=Money(amount_minor=r.historic_clv_minor, currency=r.currency),
                predicted_clv_12m=_money(r.predicted_clv_12m_minor, r.currency),
                churn_rate=r.churn_rate,
            )
            for r in rows
        ]


@strawberry.type
class MarketingMutation:
    @strawberry.mutation(description="Create a segment, or a new version of it: {name, description, where}.")
    def create_segment(self, info: strawberry.Info, definition: JSON) -> Segment:
        ctx: RequestContext = info.context
        row = service.create_segment(ctx.session, ctx.access, parse(definition))
        ctx.commit()
        return Segment(row=row)

    @strawberry.mutation(description="Recompute the segment's membership now (entries and exits are kept).")
    def evaluate_segment(self, info: strawberry.Info, id: strawberry.ID) -> Segment:
        ctx: RequestContext = info.context
        evaluation = service.evaluate_segment(ctx.session, ctx.access, str(id))
        ctx.commit()
        return Segment(row=evaluation.segment)
