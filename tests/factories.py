"""Builders for incoming events in the documented format."""

from __future__ import annotations

import itertools
from typing import Any

from cdp.access.gate import AccessContext
from cdp.ingest.service import INGEST_ATTEMPTS, IngestOutcome, ingest
from cdp.store import Store

_counter = itertools.count(1)
OPERATOR = AccessContext.operator("order_fulfillment")


def event(identifiers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source": "shopify",
        "source_event_id": f"evt-{next(_counter)}",
        "type": "identify",
        "occurred_at": "2026-03-01T10:00:00+01:00",
        "country": "DE",
        "identifiers": identifiers,
        "traits": {},
        "properties": {},
    }
    base.update(overrides)
    return base


def order(identifiers: dict[str, str], total: str = "19.99", currency: str = "EUR", **overrides: Any) -> dict[str, Any]:
    props = {"order_id": f"o-{next(_counter)}", "total": total, "currency": currency, "items": []}
    return event(identifiers, type="order", properties=props, **overrides)


def ingest_all(store: Store, *events: object) -> list[IngestOutcome]:
    """Ingest as the operator (role admin) through the one ingest service."""
    return store.run(lambda s: ingest(s, store, OPERATOR, events), attempts=INGEST_ATTEMPTS)
