"""Builders for incoming events in the documented format."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import insert

from cdp.access.gate import AccessContext
from cdp.identity.models import Identity
from cdp.ids import new_id, utcnow
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


def email_in_old_form(store: Store, profile_id: str, email: str) -> str:
    """An email row as cdp wrote it before the provider rules of policies/identity.yaml (Gmail dots, +tags):
    the address trimmed and lower-cased, nothing more, blind-indexed and encrypted in that form. Its row id."""
    old_form, row_id = email.strip().lower(), new_id()
    with store.transaction() as s:
        s.execute(
            insert(Identity).values(
                id=row_id, profile_id=profile_id, kind="email", blind_index=store.indexer.index("email", old_form),
                value_ct=store.keystore.encrypt(profile_id, "identity", "value", row_id, old_form),
                source="shopify", created_at=utcnow(), unrelated_links=0,
            )
        )  # fmt: skip
    return row_id
