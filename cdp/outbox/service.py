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

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.access.gate import AccessContext
from cdp.outbox.models import Destination, OutboxDelivery

SIGNATURE_HEADER = "X-CDP-Signature"
IDEMPOTENCY_HEADER = "X-CDP-Idempotency-Key"
DESTINATION_CATEGORY = "system.destination"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def register_destination(session: Session, access: AccessContext, *, name: str, url: str, secret: str) -> Destination:
    """Add a downstream system; configuration, so staff only (it decides where subjects' ids are sent)."""
    access.forbid_subject_tokens()
    access.require(DESTINATION_CATEGORY, action="write", field="destination")
    if not url.startswith(("https://", "http://")):
        raise ValueError("destination url must be http(s)://...")
    if len(secret) < 16:
        raise ValueError("destination secret must be at least 16 characters")
    destination = Destination(name=name.strip(), url=url, secret=secret)
    session.add(destination)
    session.flush()
    return destination


def enqueue_erasure(session: Session, request_id: str, profile_ids: list[str]) -> list[dict[str, str]]:
    """Queue an erasure notice to every active destination, in the caller's transaction."""
    payload = json.dumps(
        {"type": "erasure", "request_id": request_id, "profile_ids": sorted(profile_ids)}, sort_keys=True
    )
    queued = []
    for destination in session.execute(select(Destination).where(col(Destination.active).is_(True))).scalars():
        key = f"erasure:{request_id}:{destination.id}"
        if session.execute(select(col(OutboxDelivery.id)).where(col(OutboxDelivery.idempotency_key) == key)).first():
            continue
        session.add(OutboxDelivery(destination_id=destination.id, request_id=request_id, idempotency_key=key,
                                   payload=payload))  # fmt: skip
        queued.append({"destination": destination.name, "idempotency_key": key})
    return queued


def status_by_destination(session: Session, request_id: str) -> list[dict[str, object]]:
    rows = session.execute(
        select(
            col(Destination.name),
            col(OutboxDelivery.status),
            col(OutboxDelivery.attempts),
            col(OutboxDelivery.last_error),
        )
        .join(Destination, col(Destination.id) == col(OutboxDelivery.destination_id))
        .where(col(OutboxDelivery.request_id) == request_id)
        .order_by(Destination.name)
    ).all()
    return [{"destination": n, "status": s, "attempts": a, "last_error": e} for n, s, a, e in rows]
