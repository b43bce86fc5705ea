"""The outbox of downstream notifications (erasures, for now): one row per (event, destination), written in
the transaction of the change it announces, delivered later with retries and exponential backoff.

Each POST carries `X-CDP-Signature: sha256=<hex HMAC-SHA256 of the body with the destination's secret>` and
`X-CDP-Idempotency-Key`, the same on every attempt, so a receiver that saw a delivery whose answer got lost
can drop the repeat. Payloads hold ids only (request id, profile ids): no personal value leaves this way;
a destination maps profile ids to its own records (they are the ids it received segments with).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlmodel import Session

from cdp.dsr.models import Destination, OutboxDelivery
from cdp.dsr.settings import DsrSettings, get_dsr_settings
from cdp.ids import utcnow
from cdp.store import Store

SIGNATURE_HEADER = "X-CDP-Signature"
IDEMPOTENCY_HEADER = "X-CDP-Idempotency-Key"
MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    retrying: int
    failed: int


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def register_destination(store: Store, *, name: str, url: str, secret: str) -> Destination:
    if not url.startswith(("https://", "http://")):
        raise ValueError("destination url must be http(s)://...")
    if len(secret) < 16:
        raise ValueError("destination secret must be at least 16 characters")
    with store.session() as session:
        destination = Destination(name=name.strip(), url=url, secret=secret)
        session.add(destination)
        session.commit()
        return destination


def enqueue_erasure(session: Session, request_id: str, profile_ids: list[str]) -> list[dict[str, str]]:
    """Queue an erasure notice to every active destination, in the caller's transaction."""
    payload = json.dumps(
        {"type": "erasure", "request_id": request_id, "profile_ids": sorted(profile_ids)}, sort_keys=True
    )
    queued = []
    for destination in session.execute(select(Destination).where(Destination.active.is_(True))).scalars():
        key = f"erasure:{request_id}:{destination.id}"
        if session.execute(select(OutboxDelivery.id).where(OutboxDelivery.idempotency_key == key)).first():
            continue
        session.add(OutboxDelivery(destination_id=destination.id, request_id=request_id, idempotency_key=key,
                                   payload=payload))  # fmt: skip
        queued.append({"destination": destination.name, "idempotency_key": key})
    return queued


def deliver_due(
    store: Store,
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
    settings: DsrSettings | None = None,
) -> DeliveryReport:
    """Attempt every pending delivery whose time has come; reschedule failures with exponential backoff."""
    settings = settings or get_dsr_settings()
    now = now or utcnow()
    own_client = client is None
    client = client or httpx.Client(timeout=settings.outbox_timeout_seconds)
    delivered = retrying = failed = 0
    try:
        with store.session() as session:
            due = session.execute(
                select(OutboxDelivery, Destination)
                .join(Destination, Destination.id == OutboxDelivery.destination_id)
                .where(OutboxDelivery.status == "pending", OutboxDelivery.next_attempt_at <= now)
                .order_by(OutboxDelivery.next_attempt_at)
            ).all()
            for delivery, destination in due:
                error = _post(client, destination, delivery)
                delivery.attempts += 1
                if error is None:
                    delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
                    delivered += 1
                elif delivery.attempts >= settings.outbox_max_attempts:
                    delivery.status, delivery.last_error = "failed", error
                    failed += 1
                else:
                    backoff = timedelta(seconds=settings.outbox_backoff_seconds * 2 ** (delivery.attempts - 1))
                    delivery.next_attempt_at, delivery.last_error = now + min(backoff, MAX_BACKOFF), error
                    retrying += 1
                session.commit()  # per delivery: a crash never re-sends what was already acknowledged
    finally:
        if own_client:
            client.close()
    return DeliveryReport(delivered, retrying, failed)


def _post(client: httpx.Client, destination: Destination, delivery: OutboxDelivery) -> str | None:
    body = delivery.payload.encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(destination.secret, body),
        IDEMPOTENCY_HEADER: delivery.idempotency_key,
    }
    try:
        response = client.post(destination.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    return None if response.is_success else f"HTTP {response.status_code}"


def status_by_destination(store: Store, request_id: str) -> list[dict[str, object]]:
    with store.session() as session:
        rows = session.execute(
            select(Destination.name, OutboxDelivery.status, OutboxDelivery.attempts, OutboxDelivery.last_error)
            .join(Destination, Destination.id == OutboxDelivery.destination_id)
            .where(OutboxDelivery.request_id == request_id)
            .order_by(Destination.name)
        ).all()
    return [{"destination": n, "status": s, "attempts": a, "last_error": e} for n, s, a, e in rows]
