"""Delivers the outbox: every pending delivery whose time has come, retried with exponential backoff.

Each POST carries `X-CDP-Signature` and `X-CDP-Idempotency-Key` (see cdp.outbox.service). Every attempt is
committed on its own, so a crash never re-sends what a destination already acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlmodel import col

from cdp.ids import utcnow
from cdp.outbox.models import Destination, OutboxDelivery
from cdp.outbox.service import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from cdp.outbox.settings import OutboxSettings, get_outbox_settings
from cdp.store import Store

MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    retrying: int
    failed: int


def deliver_due(
    store: Store,
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
    settings: OutboxSettings | None = None,
) -> DeliveryReport:
    """Attempt every pending delivery whose time has come; reschedule failures with exponential backoff."""
    settings = settings or get_outbox_settings()
    now = now or utcnow()
    own_client = client is None
    client = client or httpx.Client(timeout=settings.outbox_timeout_seconds)
    delivered = retrying = failed = 0
    try:
        with store.session() as session:
            due = session.execute(
                select(OutboxDelivery, Destination)
                .join(Destination, col(Destination.id) == col(OutboxDelivery.destination_id))
                .where(col(OutboxDelivery.status) == "pending", col(OutboxDelivery.next_attempt_at) <= now)
                .order_by(col(OutboxDelivery.next_attempt_at))
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
