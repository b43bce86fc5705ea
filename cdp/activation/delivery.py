"""Sending the outbox, service side: what a claimed delivery carries, and what became of each attempt.

An erasure notice is sent as queued (ids only). A trigger delivery is rendered now, as the destination's
principal (role `destination`, the purpose the destination declared): erasure, restriction and consent are
checked again at send time — a customer who withdrew after the trigger fired gets nothing and the delivery is
cancelled — and the body holds only the fields whose category that role may export for that purpose.
Every outcome (delivered, retry, dead-lettered, cancelled) is audited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.activation.access import destination_access
from cdp.activation.definitions import Definitions, definitions
from cdp.categories import event_category
from cdp.events.models import Event, event_by_id
from cdp.identity.groups import ProfileNotFound, load_group
from cdp.ids import utcnow
from cdp.outbox.models import Destination, OutboxDelivery
from cdp.outbox.service import open_secret
from cdp.profiles.service import CustomerView, views
from cdp.store import Store

MAX_BACKOFF = timedelta(hours=6)
# What a trigger body may carry, by the data category the destination must be granted to export it.
CUSTOMER_FIELDS = {
    "first_name": "user.name",
    "last_name": "user.name",
    "language": "user.demographic.language",
    "timezone": "user.location.timezone",
    "country": "user.contact.address.country",
}
IDENTIFIER_FIELDS = {
    "email": "user.contact.email",
    "phone": "user.contact.phone_number",
    "anonymous_id": "user.unique_id.pseudonymous",
}
PURCHASE = "user.behavior.purchase"


@dataclass(frozen=True)
class Outgoing:
    """A delivery ready to POST."""

    delivery_id: str
    url: str
    secret: str
    body: bytes
    idempotency_key: str


def prepare(session: Session, store: Store, delivery_id: str, defs: Definitions | None = None) -> Outgoing | None:
    """The request for a claimed delivery; None when it is no longer pending or was cancelled now (the door
    commits the cancellation and its audit entry)."""
    delivery = session.get(OutboxDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return None
    destination = session.get(Destination, delivery.destination_id)
    assert destination is not None
    if delivery.kind == "trigger":
        access = destination_access(destination)
        body = _render(session, store, access, json.loads(delivery.payload), delivery, defs or definitions())
        if isinstance(body, str):
            _finish(session, access, delivery, "cancelled", body, denied=True)
            return None
        raw = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
    else:
        raw = delivery.payload.encode()
    return Outgoing(delivery.id, destination.url, open_secret(store, destination), raw, delivery.idempotency_key)


def record_attempt(
    session: Session,
    delivery_id: str,
    error: str | None,
    *,
    now: datetime,
    max_attempts: int,
    backoff_seconds: float,
) -> str:
    """Record one attempt: delivered, retry later (exponential backoff) or dead-lettered. Returns the state."""
    delivery = session.get(OutboxDelivery, delivery_id)
    destination = session.get(Destination, delivery.destination_id) if delivery else None
    if delivery is None or destination is None or delivery.status != "pending":
        return "gone"
    delivery.attempts += 1
    delivery.leased_until = None
    access = destination_access(destination)
    if error is None:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
        _audit(session, access, delivery, "allowed", "delivered")
        return "delivered"
    delivery.last_error = error[:500]
    if delivery.attempts >= max_attempts:
        _finish(session, access, delivery, "dead", f"dead-lettered after {delivery.attempts} attempts: {error}")
        return "dead"
    backoff = timedelta(seconds=backoff_seconds * 2 ** (delivery.attempts - 1))
    delivery.next_attempt_at = now + min(backoff, MAX_BACKOFF)
    _audit(session, access, delivery, "allowed", f"attempt {delivery.attempts} failed ({error}); retrying")
    return "retrying"


def _finish(
    session: Session, access: AccessContext, delivery: OutboxDelivery, status: str, why: str, *, denied: bool = False
) -> None:
    delivery.status, delivery.last_error, delivery.leased_until = status, why[:500], None
    _audit(session, access, delivery, "denied" if denied else "allowed", f"{status}: {why}")


def _audit(session: Session, access: AccessContext, delivery: OutboxDelivery, outcome: str, detail: str) -> None:
    audit_in(
        session,
        access,
        operation=f"deliver:{delivery.kind}",
        document=f"outbox {delivery.id}",
        outcome=outcome,
        subject_ids=[delivery.profile_id] if delivery.profile_id else [],
        categories=sorted(access.categories),
        detail=detail,
    )


def _render(
    session: Session,
    store: Store,
    access: AccessContext,
    payload: dict[str, Any],
    delivery: OutboxDelivery,
    defs: Definitions,
) -> dict[str, Any] | str:
    """The body a trigger delivery carries, or why it must not be sent now."""
    spec = defs.triggers.get(payload["trigger"])
    if spec is None:
        return f"trigger {payload['trigger']} no longer defined"
    try:
        group = load_group(session, payload["profile_id"])
    except ProfileNotFound:
        return "customer gone"
    blocked = access.blocked_reason(session, group)
    if blocked is not None:
        return blocked
    [view] = views(session, store, access, [group])
    customer = _customer(access, view)
    language, text = spec.message(customer.get("language"), customer.get("first_name"))
    body: dict[str, Any] = {
        "type": "trigger",
        "trigger": payload["trigger"],
        "purpose": access.purpose,
        "delivery_id": delivery.id,
        "idempotency_key": delivery.idempotency_key,
        "profile_id": group.root.id,
        "customer": customer,
        "message": {"language": language, "text": text},
    }
    event_id = payload.get("event_id")
    if event_id and access.allows(PURCHASE, "export"):
        event = event_by_id(session, event_id)
        if event is not None:
            body[event.type] = _event_body(store, access, group.root.id, event)
    return body


def _customer(access: AccessContext, view: CustomerView) -> dict[str, Any]:
    customer: dict[str, Any] = {}
    for name, category in CUSTOMER_FIELDS.items():
        trait = view.trait(name) if access.allows(category, "export") else None
        if trait is not None:
            customer[name] = trait.value
    for kind, category in IDENTIFIER_FIELDS.items():
        if access.allows(category, "export"):
            values = view.identities(kind)
            if values:
                customer[kind] = values[-1].value  # the newest
    return customer


def _event_body(store: Store, access: AccessContext, root_id: str, event: Event) -> dict[str, Any]:
    """The cart or order behind the trigger: items, total and currency (purchase behaviour)."""
    access.require(event_category(event.type), action="read")
    properties = json.loads(
        store.keystore.decrypt(event.profile_id, "event", "properties", event.id, event.properties_ct)
    )
    access.returned(root_id, event_category(event.type))
    keep = ("cart_id", "order_id", "order_name", "items", "total", "currency", "checkout_url")
    return {k: properties[k] for k in keep if k in properties}
