"""Compliance reads over GraphQL: the lineage of a trait value (cdp.compliance.lineage does the work)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from cdp.api.context import RequestContext
from cdp.compliance import lineage
from cdp.identity.groups import ProfileNotFound


@strawberry.type
class LineageEvent:
    id: strawberry.ID
    source: str
    source_event_id: str
    type: str
    occurred_at: datetime
    received_at: datetime


@strawberry.type
class LineageMerge:
    id: strawberry.ID
    survivor_id: strawberry.ID
    absorbed_id: strawberry.ID
    identifier_kind: str
    event_id: strawberry.ID | None
    actor: str
    merged_at: datetime
    unmerged_at: datetime | None


@strawberry.type
class TraitObservation:
    profile_id: strawberry.ID = strawberry.field(description="The merge-group member the value is stored on.")
    source: str
    observed_at: datetime
    value: JSON | None = strawberry.field(description="Null when withheld (see TraitLineage.withheld).")
    served: bool = strawberry.field(description="The value reads return: the newest observation.")
    events: list[LineageEvent]
    merges: list[LineageMerge] = strawberry.field(description="Merges that moved it to the customer, oldest first.")


@strawberry.type
class TraitLineage:
    customer_id: strawberry.ID
    trait: str
    category: str
    withheld: str | None = strawberry.field(description="Why values are withheld (restricted, erased, consent).")
    observations: list[TraitObservation]


def _observation(o: lineage.Observation) -> TraitObservation:
    return TraitObservation(
        profile_id=strawberry.ID(o.profile_id),
        source=o.source,
        observed_at=o.observed_at,
        value=o.value,
        served=o.served,
        events=[
            LineageEvent(
                id=strawberry.ID(e.id),
                source=e.source,
                source_event_id=e.source_event_id,
                type=e.type,
                occurred_at=e.occurred_at,
                received_at=e.received_at,
            )  # fmt: skip
            for e in o.events
        ],
        merges=[
            LineageMerge(
                id=strawberry.ID(m.id),
                survivor_id=strawberry.ID(m.survivor_id),
                absorbed_id=strawberry.ID(m.absorbed_id),
                identifier_kind=m.identifier_kind,
                event_id=strawberry.ID(m.event_id) if m.event_id else None,
                actor=m.actor,
                merged_at=m.merged_at,
                unmerged_at=m.unmerged_at,
            )  # fmt: skip
            for m in o.merges
        ],
    )


@strawberry.type
class ComplianceQuery:
    @strawberry.field(description="Where a customer's trait value came from: source, event, time, and every merge "
                      "that moved it. A read of the trait's category, audited.")  # fmt: skip
    def trait_lineage(self, info: strawberry.Info, profile_id: strawberry.ID, trait: str) -> TraitLineage | None:
        ctx: RequestContext = info.context
        try:
            found = lineage.trait_lineage(ctx.session, ctx.store, ctx.access, str(profile_id), trait)
        except (ProfileNotFound, lineage.TraitNotFound):
            return None
        return TraitLineage(
            customer_id=strawberry.ID(found.customer_id),
            trait=found.trait,
            category=found.category,
            withheld=found.withheld,
            observations=[_observation(o) for o in found.observations],
        )
