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
from datetime import datetime
from typing import Literal

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext, SubjectScopeError
from cdp.categories import event_category, identifier_category
from cdp.consents.service import apply_gpc
from cdp.db import table_of
from cdp.dsr.suppression import SUPPRESSED, suppressed
from cdp.events.currency import MoneyError, to_minor
from cdp.events.models import Event, EventKey
from cdp.events.schema import IncomingEvent, InvalidEvent, parse_event
from cdp.identity.groups import load_group
from cdp.identity.resolve import BatchResolver, NormalizedIdentifier, holders_of, normalize_identifiers
from cdp.identity.rules import InvalidIdentifier, earlier_forms
from cdp.ids import new_id, utcnow
from cdp.ingest.classify import TraitClassifier
from cdp.pii.pan import PanTokenizer
from cdp.profiles.models import Trait
from cdp.store import Store
from cdp.traits.service import queue_refresh, refresh_for
from consent.jurisdiction import jurisdiction_for
from policies.errors import AccessDenied

MONEY_EVENT_TYPES = {"order", "cart"}
INGEST_ATTEMPTS = 5  # a batch that lost a unique-constraint race to a concurrent writer is run again


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
    session: Session,
    store: Store,
    access: AccessContext,
    raw_events: Sequence[object],
    *,
    classifier: TraitClassifier | None = None,
    gpc: bool = False,
    traits: Literal["refresh", "queue"] = "refresh",
) -> list[IngestOutcome]:
    """Validate, authorize (write on every category the event carries) and store a batch of events in the
    caller's transaction; the door commits, and runs it again from scratch when a concurrent writer won a
    unique-constraint race (`Store.run(..., attempts=INGEST_ATTEMPTS)`). `gpc`: the sender's browser asked not
    to sell or share its user's data (Sec-GPC: 1). `traits`: refresh the touched customers' computed traits in
    this transaction, or queue them for `cdp.traits.service.drain_refreshes` (a bulk import, which drains the
    queue before it returns)."""
    classifier = classifier or TraitClassifier.default()
    tokenizer = PanTokenizer(store.indexer.index)
    outcomes: dict[int, IngestOutcome] = {}
    prepared: list[_Prepared] = []
    written: dict[str, None] = {}
    denials: list[AccessDenied] = []
    for index, raw in enumerate(raw_events):
        try:
            item = _prepare(store, tokenizer, index, raw)
            written.update(dict.fromkeys(_authorize(access, item, classifier)))
            prepared.append(item)
        except (InvalidEvent, InvalidIdentifier, MoneyError, AccessDenied) as exc:
            problems = exc.problems if isinstance(exc, InvalidEvent) else [str(exc)]
            outcomes[index] = IngestOutcome(index, "rejected", errors=problems)
            if isinstance(exc, AccessDenied):
                denials.append(exc)
    prepared = _drop_suppressed(session, store, prepared, outcomes)
    prepared = _own_subject_only(session, access, prepared, outcomes, denials)
    classified = classifier.classify({item.index: item.event for item in prepared})  # PII detection, once per batch
    stored = _store_batch(session, store, access, prepared, classified)
    touched = [o.profile_id for o in stored if o.status == "stored" and o.profile_id]
    if traits == "refresh":
        refresh_for(session, store, touched)
    else:
        queue_refresh(session, touched)
    outcomes.update({o.index: o for o in stored})
    classified.record(session, [o.index for o in stored if o.status == "stored"])
    # Last: appending to the audit chain locks its head until commit, holding up every other audited write.
    _audit(session, access, stored, list(written), denials)
    if gpc:
        apply_gpc(session, access, [o.profile_id for o in stored if o.status == "stored" and o.profile_id])
    return [outcomes[i] for i in range(len(raw_events))]


def _drop_suppressed(
    session: Session, store: Store, prepared: list[_Prepared], outcomes: dict[int, IngestOutcome]
) -> list[_Prepared]:
    """An erased subject's replayed or restored events stay out: one look-up for the whole batch, under the
    identifiers' canonical forms and the forms subjects erased before a rule change were indexed under."""
    checked = {item.index: _suppression_forms(store, item) for item in prepared}
    erased = suppressed(session, (i for forms in checked.values() for i in forms))
    if not erased:
        return prepared
    kept = []
    for item in prepared:
        if any((i.kind, i.blind_index) in erased for i in checked[item.index]):
            outcomes[item.index] = IngestOutcome(item.index, "rejected", errors=[SUPPRESSED])
        else:
            kept.append(item)
    return kept


def _suppression_forms(store: Store, item: _Prepared) -> list[NormalizedIdentifier]:
    earlier = [
        NormalizedIdentifier(kind, form, store.indexer.index(kind, form))
        for kind, value in item.event.identifiers.items()
        for form in earlier_forms(kind, value)
    ]
    return item.identifiers + earlier


def _own_subject_only(
    session: Session,
    access: AccessContext,
    prepared: list[_Prepared],
    outcomes: dict[int, IngestOutcome],
    denials: list[AccessDenied],
) -> list[_Prepared]:
    """A data-subject token writes only about its own customer: each event must carry an identifier that
    customer already holds, and none that anyone else holds (which would attach the event to them or merge
    the two). Anything else is refused and audited as a denial."""
    own = access.principal.profile_id
    if own is None:
        return prepared
    members = set(load_group(session, own).member_ids)
    holders = holders_of(session, [i for item in prepared for i in item.identifiers])
    kept = []
    for item in prepared:
        held = {holders[(i.kind, i.blind_index)] for i in item.identifiers if (i.kind, i.blind_index) in holders}
        if held and held <= members:
            kept.append(item)
            continue
        refusal = SubjectScopeError(access.principal, access.purpose, action="write")
        outcomes[item.index] = IngestOutcome(item.index, "rejected", errors=[str(refusal)])
        denials.append(refusal)
    return kept


def _authorize(access: AccessContext, item: _Prepared, classifier: TraitClassifier) -> list[str]:
    """The categories the event writes; AccessDenied when the caller may not write one of them."""
    event = item.event
    categories = [event_category(event.type)]
    categories += [identifier_category(i.kind) for i in item.identifiers]
    categories += [classifier.category(name, value) for name, value in event.traits.items()]
    unique = list(dict.fromkeys(categories))
    for category in unique:
        access.require(category, action="write")
    return unique


def _audit(
    session: Session,
    access: AccessContext,
    stored: list[IngestOutcome],
    categories: list[str],
    denials: list[AccessDenied],
) -> None:
    """One entry for the batch's writes and one for its refusals, in the batch's own transaction."""
    subjects = sorted({o.profile_id for o in stored if o.status == "stored" and o.profile_id})
    document = f"ingest {len(stored) + len(denials)} events"
    if subjects:
        audit_in(
            session,
            access,
            operation="ingest",
            document=document,
            outcome="allowed",
            subject_ids=subjects,
            categories=categories,
        )
    if denials:
        audit_in(
            session,
            access,
            operation="ingest",
            document=document,
            outcome="denied",
            categories=sorted({d.category for d in denials}),
            detail=str(denials[0]),
        )


def _prepare(store: Store, tokenizer: PanTokenizer, index: int, raw: object) -> _Prepared:
    event = _without_card_numbers(tokenizer, parse_event(raw))
    identifiers, warnings = normalize_identifiers(store.indexer, event.identifiers, event.country)
    if not identifiers:
        raise InvalidEvent([*(w.removesuffix("; ignored") for w in warnings), "identifiers: no usable identifier left"])
    amount = currency = base = None
    if event.type in MONEY_EVENT_TYPES:
        amount, currency, base = _money(store, event)
    return _Prepared(index, event, identifiers, warnings, amount, currency, base)


def _without_card_numbers(tokenizer: PanTokenizer, event: IncomingEvent) -> IncomingEvent:
    """Card numbers never reach encryption, classification or storage (see cdp.pii.pan)."""
    traits, in_traits = tokenizer.value(event.traits)
    properties, in_properties = tokenizer.value(event.properties)
    if not in_traits and not in_properties:
        return event
    return event.model_copy(update={"traits": traits, "properties": properties})


def _money(store: Store, event: IncomingEvent) -> tuple[int, str, int]:
    props = event.properties
    if "total" not in props or "currency" not in props:
        raise InvalidEvent([f"properties: a {event.type} needs 'total' and 'currency'"])
    currency = str(props["currency"]).upper()
    if not store.rates.knows(currency):
        raise InvalidEvent(["properties.currency: unknown currency (expected an ISO-4217 code in the rates table)"])
    try:
        amount = to_minor(props["total"], currency)
    except MoneyError as exc:
        raise InvalidEvent([f"properties.total: {exc}"]) from None
    base = store.settings.base_currency
    return amount, currency, store.rates.convert_minor(amount, currency, base, event.occurred_at.date())


def _store_batch(
    session: Session, store: Store, access: AccessContext, batch: list[_Prepared], classifier: TraitClassifier
) -> list[IngestOutcome]:
    existing = _existing_events(session, batch)
    resolver = BatchResolver(session, store.keystore)
    resolver.preload(i for item in batch for i in item.identifiers)
    writer = _RowWriter(session, store, classifier, resolver.parent)
    outcomes = []
    for item in batch:
        key = (item.event.source, item.event.source_event_id)
        if key in existing:
            outcomes.append(
                IngestOutcome(item.index, "duplicate", event_id=existing[key][0], profile_id=existing[key][1])
            )
            continue
        event_id = new_id()
        resolution = resolver.resolve(
            item.identifiers,
            source=item.event.source,
            jurisdiction=jurisdiction_for(item.event.country, _region(item.event)),
            event_id=event_id,
        )
        if access.principal.profile_id is not None:  # the pre-check held; fail closed if resolution disagrees
            access.check_subject(resolver.members(resolution.root_id), action="write")
        writer.event(item, event_id, resolution.profile_id)
        writer.traits(item, resolution.profile_id)
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
    resolver.flush()
    writer.flush()
    return outcomes


def _region(event: IncomingEvent) -> str | None:
    region = event.traits.get("region")
    return str(region) if region is not None else None


def _existing_events(session: Session, batch: list[_Prepared]) -> dict[tuple[str, str], tuple[str, str]]:
    keys = {(p.event.source, p.event.source_event_id) for p in batch}
    sources = sorted({source for source, _ in keys})
    ids = sorted({event_id for _, event_id in keys})
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for start in range(0, len(ids), 500):
        # source IN (...) AND source_event_id IN (...) uses the (source, source_event_id) primary key, where a
        # row-value IN makes SQLite scan the table; pairs outside the batch are filtered out below.
        rows = session.execute(
            select(
                col(EventKey.source), col(EventKey.source_event_id), col(EventKey.event_id), col(EventKey.profile_id)
            ).where(col(EventKey.source).in_(sources), col(EventKey.source_event_id).in_(ids[start : start + 500]))
        )
        found.update({(s, sid): (eid, pid) for s, sid, eid, pid in rows if (s, sid) in keys})
    return found


class _RowWriter:
    """Events and traits of a batch, written with one multi-row statement per table."""

    def __init__(self, session: Session, store: Store, classifier: TraitClassifier, known: dict[str, str | None]):
        self.session, self.store, self.classifier = session, store, classifier
        self._events: list[dict] = []
        self._new_traits: list[dict] = []
        self._changed_traits: dict[str, dict] = {}
        self._traits: dict[tuple[str, str], tuple[str, datetime]] = {}
        profile_ids = sorted(known)
        for start in range(0, len(profile_ids), 500):
            for trait_id, profile_id, name, updated_at in session.execute(
                select(col(Trait.id), col(Trait.profile_id), col(Trait.name), col(Trait.updated_at)).where(
                    col(Trait.profile_id).in_(profile_ids[start : start + 500])
                )
            ):
                self._traits[(profile_id, name)] = (trait_id, updated_at)

    def event(self, item: _Prepared, event_id: str, profile_id: str) -> None:
        event = item.event
        properties = json.dumps(event.properties, ensure_ascii=False, separators=(",", ":"))
        self._events.append(
            {
                "id": event_id,
                "profile_id": profile_id,
                "source": event.source,
                "source_event_id": event.source_event_id,
                "type": event.type,
                "occurred_at": event.occurred_at,
                "utc_offset_minutes": event.occurred_at_utc_offset_minutes,
                "received_at": utcnow(),
                "amount_minor": item.amount_minor,
                "currency": item.currency,
                "base_amount_minor": item.base_amount_minor,
                "base_currency": self.store.settings.base_currency if item.amount_minor is not None else None,
                "properties_ct": self.store.keystore.encrypt(profile_id, "event", "properties", event_id, properties),
                "redacted_ct": self._redacted(item.index, profile_id, event_id),
            }
        )

    def _redacted(self, index: int, profile_id: str, event_id: str) -> bytes | None:
        redacted = self.classifier.redacted_text(index)
        if redacted is None:
            return None
        return self.store.keystore.encrypt(profile_id, "event", "redacted_text", event_id, redacted)

    def traits(self, item: _Prepared, profile_id: str) -> None:
        """Newest observation wins: an older event replayed late does not overwrite a newer value."""
        observed = item.event.occurred_at
        for name, value in item.event.traits.items():
            if value is None:
                continue
            known = self._traits.get((profile_id, name))
            if known is not None and known[1] > observed:
                continue
            trait_id = known[0] if known else new_id()
            row = {
                "id": trait_id,
                "profile_id": profile_id,
                "name": name,
                "category": self.classifier.category(name, value),
                "value_ct": self.store.keystore.encrypt(
                    profile_id, "trait", "value", trait_id, json.dumps(value, ensure_ascii=False)
                ),
                "source": item.event.source,
                "updated_at": observed,
            }
            self._traits[(profile_id, name)] = (trait_id, observed)
            if known is None:
                self._new_traits.append(row)
            else:  # rows inserted earlier in this batch are updated after the insert, in flush()
                self._changed_traits[trait_id] = row

    def flush(self) -> None:
        if self._events:
            keys = [
                {"source": e["source"], "source_event_id": e["source_event_id"], "event_id": e["id"],
                 "profile_id": e["profile_id"]}
                for e in self._events
            ]  # fmt: skip
            self.session.connection().execute(insert(table_of(EventKey)), keys)  # a concurrent twin fails here
            self.session.connection().execute(insert(table_of(Event)), self._events)
        if self._new_traits:
            self.session.connection().execute(insert(table_of(Trait)), self._new_traits)
        if self._changed_traits:
            table = table_of(Trait)
            self.session.connection().execute(
                update(table)
                # a concurrent batch may have written a newer observation since this one read the trait
                .where(table.c.id == bindparam("trait_id"), table.c.updated_at <= bindparam("updated_at"))
                .values(
                    value_ct=bindparam("value_ct"),
                    category=bindparam("category"),
                    source=bindparam("source"),
                    updated_at=bindparam("updated_at"),
                ),
                [{**r, "trait_id": r["id"]} for r in self._changed_traits.values()],
            )
