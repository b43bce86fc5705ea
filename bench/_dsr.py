"""What the data-subject-request benchmarks share: a customer with many events, ingested as production
ingests them, and requests run as a door runs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from cdp.access.gate import AccessContext
from cdp.dsr import service
from cdp.ingest.service import ingest
from cdp.store import Store

OFFICER = AccessContext.operator("data_subject_rights")
WRITER = AccessContext.operator("order_fulfillment")


def customer(store: Store, tag: str, events: int) -> str:
    """A customer with `events` events a second apart (80% page views, 10% tickets, 10% orders: the orders
    fall under the tax-law legal hold), ingested 1,000 at a time; returns the profile id."""
    ids = {"email": f"bench-{tag}@example.com"}
    start = datetime(2026, 3, 1, 10, tzinfo=UTC)
    batch, profile_id = [], ""
    for n in range(events):
        kind = "order" if n % 10 == 0 else "ticket" if n % 10 == 1 else "page_view"
        props = {"url": f"/p/{n}", "text": f"question {n} about my parcel"}
        if kind == "order":
            props = {"order_id": f"{tag}-{n}", "total": "49.90", "currency": "EUR", "items": [{"sku": "A1"}]}
        batch.append({"source": "bench", "source_event_id": f"{tag}-{n}", "type": kind, "country": "DE",
                      "occurred_at": (start + timedelta(seconds=n)).isoformat(), "identifiers": ids,
                      "properties": props, "traits": {"first_name": "Bench"} if n == 0 else {}})  # fmt: skip
        if len(batch) == 1000 or n == events - 1:
            outcomes = store.run(lambda s, batch=batch: ingest(s, store, WRITER, batch))
            profile_id = profile_id or outcomes[0].profile_id
            batch = []
    return profile_id


def verified(store: Store, kind: str, profile_id: str) -> str:
    """A request an officer created and verified; returns its id."""

    def work(session: Session) -> str:
        request = service.create_request(session, store, OFFICER, kind=kind, profile_id=profile_id, source="cli")
        return service.mark_verified(session, OFFICER, request.id, "bench").id

    return store.run(work)


def execute(store: Store, request_id: str) -> service.Outcome:
    """As a door runs it: each step its own transaction (an erasure takes two)."""
    return store.run_until(lambda s: service.execute(s, store, OFFICER, request_id), finished=lambda o: o.finished)
