"""Ingestion: the one service function every door (GraphQL, webhooks, import, demo) calls.

A batch is validated event by event (a bad event is reported and never blocks the good ones), then stored
in one transaction: idempotent on (source, source_event_id), identity-resolved, encrypted per field.
A unique-constraint race with a concurrent writer (same new identifier) rolls the batch back and retries:
the second attempt sees the other writer's profile and attaches to it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from cdp.access.gate import AccessContext
from cdp.categories import event_category, identifier_category
from cdp.events.currency import MoneyError, to_minor
from cdp.events.models import Event
from cdp.events.schema import IncomingEvent, InvalidEvent, parse_event
from cdp.identity.resolve import NormalizedIdentifier, normalize_identifiers, resolve
from cdp.identity.rules import InvalidIdentifier
from cdp.ids import new_id, utcnow
from cdp.ingest.classify import TraitClassifier
from cdp.profiles.models import Trait
from cdp.store import Store
from consent.jurisdiction import jurisdiction_for
from policies.errors import AccessDenied

MONEY_EVENT_TYPES = {"order", "cart"}
MAX_ATTEMPTS = 5


@dataclass
class IngestOutcome:
    index: int  # position in the submitted batch (line number - 1 for files)
    status: Literal["stored", "duplicate", "rejected"]
    event_id: str | None = None
    profile_id: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    merged_profile_ids: list[str] = field(default_factory=list)
    review_item_id: str | None = None


@dataclass
class _Prepared:
    index: int
    event: IncomingEvent
    identifiers: list[NormalizedIdentifier]
    warnings: list[str]
    amount_minor: int | None
    currency: str | None
    base_amount_minor: int | None


def ingest(
    store: Store,
    raw_events: Sequence[object],
    *,
    access: AccessContext,
    classifier: TraitClassifier | None = None,
) -> list[IngestOutcome]:
    """Validate, authorize (write on every category the event carries) and store a batch of events."""
    classifier = classifier or TraitClassifier.default()
    outcomes: dict[int, IngestOutcome] = {}
    prepared: list[_Prepared] = []
    for index, raw in enumerate(raw_events):
        try:
            item = _prepare(store, index, raw)
            _authorize(access, item, classifier)
            prepared.append(item)
        except (InvalidEvent, InvalidIdentifier, MoneyError, AccessDenied) as exc:
            problems = exc.problems if isinstance(exc, InvalidEvent) else [str(exc)]
            outcomes[index] = IngestOutcome(index, "rejected", errors=problems)
    for attempt in range(MAX_ATTEMPTS):
        try:
            with store.session() as session:
                stored = _store_batch(session, store, prepared, classifier)
                store.keystore.flush()  # keys are durable before the data that needs them
                session.commit()
            break
        except (IntegrityError, OperationalError):
            store.keystore.discard_pending()
            if attempt == MAX_ATTEMPTS - 1:
                raise
    outcomes.update({o.index: o for o in stored})
    return [outcomes[i] for i in range(len(raw_events))]


def _authorize(access: AccessContext, item: _Prepared, classifier: TraitClassifier) -> None:
    event = item.event
    categories = [event_category(event.type)]
    categories += [identifier_category(i.kind) for i in item.identifiers]
    categories += [classifier.category(name, value) for name, value in event.traits.items()]
    for category in dict.fromkeys(categories):
        access.require(category, action="write")


def _prepare(store: Store, index: int, raw: object) -> _Prepared:
    event = parse_event(raw)
    identifiers, warnings = normalize_identifiers(store.indexer, event.identifiers, event.country)
    if not identifiers:
        raise InvalidEvent(["identifiers: no usable identifier (all were blocked placeholder values)"])
    amount = currency = base = None
    if event.type in MONEY_EVENT_TYPES:
        amount, currency, base = _money(store, event)
    return _Prepared(index, event, identifiers, warnings, amount, currency, base)


def _money(store: Store, event: IncomingEvent) -> tuple[int, str, int]:
    props = event.properties
    if "total" not in props or "currency" not in props:
        raise InvalidEvent([f"properties: a {event.type} needs 'total' and 'currency'"])
    currency = str(props["currency"]).upper()
    if not store.rates.knows(currency):
        raise InvalidEvent([f"properties.currency: unknown currency {currency!r} (ISO-4217 code in the rates table)"])
    try:
        amount = to_minor(props["total"], currency)
    except MoneyError as exc:
        raise InvalidEvent([f"properties.total: {exc}"]) from None
    base = store.settings.base_currency
    return amount, currency, store.rates.convert_minor(amount, currency, base, event.occurred_at.date())


def _store_batch(
    session: Session, store: Store, batch: list[_Prepared], classifier: TraitClassifier
) -> list[IngestOutcome]:
    existing = _existing_events(session, batch)
    outcomes = []
    for item in batch:
        key = (item.event.source, item.event.source_event_id)
        if key in existing:
            outcomes.append(
                IngestOutcome(item.index, "duplicate", event_id=existing[key][0], profile_id=existing[key][1])
            )
            continue
        event_id = new_id()
        resolution = resolve(
            session,
            store.keystore,
            item.identifiers,
            source=item.event.source,
            jurisdiction=jurisdiction_for(item.event.country, _region(item.event)),
            event_id=event_id,
        )
        _insert_event(session, store, item, event_id, resolution.profile_id)
        _upsert_traits(session, store, item, resolution.profile_id, classifier)
        existing[key] = (event_id, resolution.profile_id)
        outcomes.append(
            IngestOutcome(
                item.index,
                "stored",
                event_id=event_id,
                profile_id=resolution.root_id,
                warnings=item.warnings + resolution.warnings,
                merged_profile_ids=resolution.merged,
                review_item_id=resolution.review_item_id,
            )
        )
    return outcomes


def _region(event: IncomingEvent) -> str | None:
    region = event.traits.get("region")
    return str(region) if region is not None else None


def _existing_events(session: Session, batch: list[_Prepared]) -> dict[tuple[str, str], tuple[str, str]]:
    keys = list({(p.event.source, p.event.source_event_id) for p in batch})
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = session.execute(
            select(Event.source, Event.source_event_id, Event.id, Event.profile_id).where(
                tuple_(Event.source, Event.source_event_id).in_(chunk)
            )
        )
        found.update({(s, sid): (eid, pid) for s, sid, eid, pid in rows})
    return found


def _insert_event(session: Session, store: Store, item: _Prepared, event_id: str, profile_id: str) -> None:
    event = item.event
    properties = json.dumps(event.properties, ensure_ascii=False, separators=(",", ":"))
    session.execute(
        insert(Event).values(
            id=event_id,
            profile_id=profile_id,
            source=event.source,
            source_event_id=event.source_event_id,
            type=event.type,
            occurred_at=event.occurred_at,
            utc_offset_minutes=event.occurred_at_utc_offset_minutes,
            received_at=utcnow(),
            amount_minor=item.amount_minor,
            currency=item.currency,
            base_amount_minor=item.base_amount_minor,
            base_currency=store.settings.base_currency if item.amount_minor is not None else None,
            properties_ct=store.keystore.encrypt(profile_id, "event", "properties", event_id, properties),
        )
    )


def _upsert_traits(
    session: Session, store: Store, item: _Prepared, profile_id: str, classifier: TraitClassifier
) -> None:
    """Newest observation wins: an older event replayed late does not overwrite a newer value."""
    traits = {k: v for k, v in item.event.traits.items() if v is not None}
    if not traits:
        return
    current = {
        name: (trait_id, updated_at)
        for trait_id, name, updated_at in session.execute(
            select(Trait.id, Trait.name, Trait.updated_at).where(
                Trait.profile_id == profile_id, Trait.name.in_(list(traits))
            )
        )
    }
    observed = item.event.occurred_at
    for name, value in traits.items():
        encoded = json.dumps(value, ensure_ascii=False)
        category = classifier.category(name, value)
        if name in current:
            trait_id, updated_at = current[name]
            if updated_at > observed:
                continue
            session.execute(
                update(Trait)
                .where(Trait.id == trait_id)
                .values(
                    value_ct=store.keystore.encrypt(profile_id, "trait", "value", trait_id, encoded),
                    category=category,
                    source=item.event.source,
                    updated_at=observed,
                )
            )
        else:
            trait_id = new_id()
            session.execute(
                insert(Trait).values(
                    id=trait_id,
                    profile_id=profile_id,
                    name=name,
                    category=category,
                    value_ct=store.keystore.encrypt(profile_id, "trait", "value", trait_id, encoded),
                    source=item.event.source,
                    updated_at=observed,
                )
            )
