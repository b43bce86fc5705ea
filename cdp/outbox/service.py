"""The one outbox of downstream notices (erasure notices of data-subject requests, activation deliveries of
triggers): one row per (notice, destination), written in the transaction of the change it announces,
delivered later by the worker with retries, exponential backoff and a dead-letter state.

Every POST is signed for the destination's receiver to check (docs/activation.md):
- `X-CDP-Timestamp: <unix seconds>` and `X-CDP-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." +
  body)>`; receivers reject a timestamp more than REPLAY_WINDOW_SECONDS away from their clock, so a captured
  request cannot be replayed later, and compare signatures in constant time;
- `X-CDP-Idempotency-Key`, the same on every attempt, so a receiver that saw a delivery whose answer got lost
  drops the repeat (delivery is at least once).
Rows hold ids only; an activation body is rendered at send time (cdp.activation.delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.crypto.keystore import KeyStore
from cdp.ids import utcnow
from cdp.outbox.models import Destination, OutboxDelivery
from cdp.store import Store

SIGNATURE_HEADER = "X-CDP-Signature"
TIMESTAMP_HEADER = "X-CDP-Timestamp"
IDEMPOTENCY_HEADER = "X-CDP-Idempotency-Key"
REPLAY_WINDOW_SECONDS = 300
DESTINATION_CATEGORY = "system.destination"


class DeliveryNotFound(LookupError):
    pass


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float) -> bool:
    """What a receiver does: the timestamp inside the replay window and the signature over it and the body."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def seal_secret(keystore: KeyStore, destination_id: str, secret: str) -> bytes:
    """Encrypt a destination's secret under a data key of its own in the key store (flushed by the door's
    transaction before the row commits)."""
    keystore.new_data_key(destination_id)
    return keystore.encrypt(destination_id, "dsr_destination", "secret", destination_id, secret)


def open_secret(store: Store, destination: Destination) -> str:
    return store.keystore.decrypt(destination.id, "dsr_destination", "secret", destination.id, destination.secret_ct)


def register_destination(
    session: Session,
    store: Store,
    access: AccessContext,
    *,
    name: str,
    url: str,
    secret: str,
    purpose: str = "data_subject_rights",
) -> Destination:
    """Add a downstream system serving one purpose; configuration, so staff only (it decides where subjects'
    data is sent)."""
    access.forbid_subject_tokens()
    access.require(DESTINATION_CATEGORY, action="write", field="destination")
    if not url.startswith(("https://", "http://")):
        raise ValueError("destination url must be http(s)://...")
    if len(secret) < 16:
        raise ValueError("destination secret must be at least 16 characters")
    access.purposes.get(purpose)  # UnknownPurpose lists the valid ones
    destination = Destination(name=name.strip(), url=url, purpose=purpose, secret_ct=b"")
    destination.secret_ct = seal_secret(store.keystore, destination.id, secret)
    session.add(destination)
    session.flush()
    audit_in(
        session,
        access,
        operation="destination:register",
        document=f"destination {destination.name} {purpose}",
        outcome="allowed",
        categories=[DESTINATION_CATEGORY],
    )
    return destination


def enqueue_erasure(session: Session, request_id: str, profile_ids: list[str]) -> list[dict[str, str]]:
    """Queue an erasure notice to every active destination (whatever its purpose: each may hold the ids), in
    the caller's transaction."""
    payload = json.dumps(
        {"type": "erasure", "request_id": request_id, "profile_ids": sorted(profile_ids)}, sort_keys=True
    )
    queued = []
    for destination in session.execute(select(Destination).where(col(Destination.active).is_(True))).scalars():
        key = f"erasure:{request_id}:{destination.id}"
        if session.execute(select(col(OutboxDelivery.id)).where(col(OutboxDelivery.idempotency_key) == key)).first():
            continue
        session.add(
            OutboxDelivery(destination_id=destination.id, request_id=request_id, idempotency_key=key, payload=payload)
        )
        queued.append({"destination": destination.name, "idempotency_key": key})
    return queued


def replay(session: Session, access: AccessContext, delivery_id: str) -> OutboxDelivery:
    """Send a dead-lettered (or cancelled) delivery again from its first attempt, under its same idempotency
    key; the send-time checks run again."""
    access.forbid_subject_tokens()
    access.require(DESTINATION_CATEGORY, action="write", field="outboxReplay")
    delivery = session.get(OutboxDelivery, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(f"no outbox delivery with id {delivery_id}")
    if delivery.status not in ("dead", "cancelled"):
        raise ValueError(f"delivery {delivery_id} is {delivery.status}; only dead or cancelled ones are replayed")
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, utcnow()
    delivery.leased_until = delivery.last_error = None
    session.add(delivery)
    audit_in(
        session,
        access,
        operation="outbox:replay",
        document=f"replay {delivery_id}",
        outcome="allowed",
        subject_ids=[delivery.profile_id] if delivery.profile_id else [],
        categories=[DESTINATION_CATEGORY],
    )
    return delivery


def list_deliveries(session: Session, access: AccessContext, *, status: str | None, first: int) -> list[OutboxDelivery]:
    access.forbid_subject_tokens()
    access.require(DESTINATION_CATEGORY, field="outbox")
    query = select(OutboxDelivery).order_by(col(OutboxDelivery.created_at).desc()).limit(first)
    if status:
        query = query.where(col(OutboxDelivery.status) == status)
    return list(session.execute(query).scalars())


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
