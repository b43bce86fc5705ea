"""Delivers the outbox: claims due deliveries (a lease), renders and signs each, POSTs it, records the attempt.

Each step is its own transaction: a crash after a destination acknowledged but before the attempt was
recorded re-sends it once the lease runs out, under the same `X-CDP-Idempotency-Key` (at least once). Headers
and signature: see cdp.outbox.service.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import httpx

from cdp.activation.delivery import Outgoing, prepare, record_attempt
from cdp.activation.jobs import claim_deliveries
from cdp.ids import utcnow
from cdp.outbox.service import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from cdp.outbox.settings import OutboxSettings, get_outbox_settings
from cdp.store import Store

LEASE = timedelta(minutes=2)
log = logging.getLogger("cdp.worker")


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    retrying: int
    dead: int
    cancelled: int = 0


def deliver_due(
    store: Store,
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
    settings: OutboxSettings | None = None,
    limit: int = 200,
) -> DeliveryReport:
    """Attempt every delivery whose time has come (up to `limit`); failures back off exponentially and are
    dead-lettered after CDP_OUTBOX_MAX_ATTEMPTS."""
    settings = settings or get_outbox_settings()
    now = now or utcnow()
    own_client = client is None
    client = client or httpx.Client(timeout=settings.outbox_timeout_seconds)
    counts = {"delivered": 0, "retrying": 0, "dead": 0, "cancelled": 0, "gone": 0}
    try:
        claimed = store.run(lambda s: claim_deliveries(s, now=now, lease=LEASE, limit=limit))
        for delivery_id in claimed:
            try:
                outgoing = store.run(partial(prepare, store=store, delivery_id=delivery_id))
            except Exception:  # one bad delivery must not hold up the others; its lease brings it back
                log.exception("outbox delivery %s could not be prepared; retried after its lease", delivery_id)
                continue
            if outgoing is None:
                counts["cancelled"] += 1
                continue
            error = _post(client, outgoing)
            state = store.run(
                partial(
                    record_attempt,
                    delivery_id=outgoing.delivery_id,
                    error=error,
                    now=now,
                    max_attempts=settings.outbox_max_attempts,
                    backoff_seconds=settings.outbox_backoff_seconds,
                )
            )
            counts[state] += 1
    finally:
        if own_client:
            client.close()
    return DeliveryReport(counts["delivered"], counts["retrying"], counts["dead"], counts["cancelled"])


def _post(client: httpx.Client, outgoing: Outgoing) -> str | None:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(outgoing.secret, timestamp, outgoing.body),
        IDEMPOTENCY_HEADER: outgoing.idempotency_key,
    }
    try:
        response = client.post(outgoing.url, content=outgoing.body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    return None if response.is_success else f"HTTP {response.status_code}"
