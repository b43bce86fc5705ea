"""Lineage of a trait value: which source, event and time each stored value came from, which one is served,
and every merge that moved it to the customer it belongs to now (undone merges included).

A trait row records its source and the time of the observation that wrote it (ingest keeps the newest
observation); the event is the one that source sent about that profile at that time. Reading lineage is a
read of the trait's category: it needs the grant, honours subject scope and the subject's block (the value is
withheld, the provenance is not), and is recorded on the context for the door's read audit entry, like
every read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.access.gate import AccessContext
from cdp.events.models import Event
from cdp.identity.groups import load_group
from cdp.identity.models import MergeRecord
from cdp.profiles.models import Trait
from cdp.store import Store


class TraitNotFound(LookupError):
    pass


@dataclass(frozen=True)
class SourceEvent:
    id: str
    source: str
    source_event_id: str
    type: str
    occurred_at: datetime
    received_at: datetime


@dataclass(frozen=True)
class MergeStep:
    id: str
    survivor_id: str
    absorbed_id: str
    identifier_kind: str
    event_id: str | None
    actor: str
    merged_at: datetime
    unmerged_at: datetime | None


@dataclass(frozen=True)
class Observation:
    """One stored value of the trait, on one profile of the merge group."""

    profile_id: str
    source: str
    observed_at: datetime
    value: Any  # None when withheld (see TraitLineage.withheld)
    served: bool  # the value reads return (the newest observation)
    events: list[SourceEvent]
    merges: list[MergeStep]  # how this profile came to the customer, oldest first


@dataclass(frozen=True)
class TraitLineage:
    customer_id: str  # root profile
    trait: str
    category: str
    withheld: str | None  # why values are not shown (restricted, erased, no consent), or None
    observations: list[Observation]


def trait_lineage(session: Session, store: Store, access: AccessContext, profile_id: str, trait: str) -> TraitLineage:
    group = load_group(session, profile_id)
    access.check_subject(group.member_ids)
    rows = list(
        session.execute(
            select(Trait)
            .where(col(Trait.profile_id).in_(group.member_ids), col(Trait.name) == trait)
            .order_by(col(Trait.updated_at), col(Trait.id))
        ).scalars()
    )
    if not rows:
        raise TraitNotFound(f"trait {trait!r}: this customer has no stored value")
    category = rows[-1].category
    for row in rows:
        access.require(row.category, field=f"traitLineage.{trait}")
    withheld = access.blocked_reason(session, group)
    observations = [
        Observation(
            profile_id=row.profile_id,
            source=row.source,
            observed_at=row.updated_at,
            value=None if withheld else _value(store, row),
            served=row is rows[-1],
            events=_events(session, row),
            merges=_merges(session, row.profile_id),
        )
        for row in rows
    ]
    for row_category in {r.category for r in rows}:
        access.returned(group.root.id, row_category)  # the door audits the read (subjects and categories)
    return TraitLineage(group.root.id, trait, category, withheld, observations)


def _value(store: Store, row: Trait) -> Any:
    return json.loads(store.keystore.decrypt(row.profile_id, "trait", "value", row.id, row.value_ct))


def _events(session: Session, row: Trait) -> list[SourceEvent]:
    """The events of this profile from the trait's source at the observation time: the one that wrote it."""
    events = session.execute(
        select(Event)
        .where(
            col(Event.profile_id) == row.profile_id,
            col(Event.source) == row.source,
            col(Event.occurred_at) == row.updated_at,
        )
        .order_by(col(Event.received_at), col(Event.id))
    ).scalars()
    return [SourceEvent(e.id, e.source, e.source_event_id, e.type, e.occurred_at, e.received_at) for e in events]


def _merges(session: Session, profile_id: str) -> list[MergeStep]:
    """Merges that absorbed this profile or the profiles it was absorbed into, up to the root; undone ones too."""
    steps: dict[str, MergeRecord] = {}
    frontier, seen = [profile_id], set()
    while frontier:
        current = frontier.pop()
        seen.add(current)
        for record in session.execute(select(MergeRecord).where(col(MergeRecord.absorbed_id) == current)).scalars():
            steps[record.id] = record
            if record.unmerged_at is None and record.survivor_id not in seen:
                frontier.append(record.survivor_id)
    ordered = sorted(steps.values(), key=lambda r: (r.merged_at, r.id))
    return [
        MergeStep(
            r.id, r.survivor_id, r.absorbed_id, r.identifier_kind, r.event_id, r.actor, r.merged_at, r.unmerged_at
        )  # fmt: skip
        for r in ordered
    ]
