"""Shopify's mandatory privacy webhooks at POST /webhooks/shopify.

Checks, in order, before anything is stored: the webhook is configured (without CDP_SHOPIFY_API_SECRET every
request is 503); the body is read in chunks and refused (413) as soon as it passes MAX_BODY_BYTES; the signature
(`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body with the app's API secret) in constant time (401).
Then every malformed part of a signed delivery is a 400 naming the header or field: the topic, the webhook id,
`X-Shopify-Triggered-At` (older than the replay window is refused), the JSON (depth-limited) and its shape,
which must be the topic's: only the body is signed, so a `customers/data_request` body re-sent under the topic
`customers/redact` must not become an erasure.

Deliveries are idempotent on `X-Shopify-Webhook-Id` (Shopify retries), and the same customer (or shop) and
topic within the replay window is one request, whatever its webhook id.

- customers/data_request -> an access request; customers/redact -> an erasure request. Both are marked
  verified (Shopify authenticated the customer with the shop) and wait for a compliance officer to execute
  them, within their deadline; nothing is exported or erased from inside the webhook.
- shop/redact -> a `shop_redaction` request, recorded for an officer. It erases nothing by itself: a
  customer may also be known from other shops and platforms, and Shopify sends customers/redact for each
  customer that must go.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.dsr import service
from cdp.dsr.models import DsrRequest
from cdp.dsr.settings import get_dsr_settings
from cdp.store import Store

TOPICS = {"customers/data_request": "access", "customers/redact": "erasure", "shop/redact": "shop_redaction"}
MAX_BODY_BYTES = 1_000_000
MAX_WEBHOOK_ID_CHARS = 190  # stored as "shopify:<id>" in a 200-character column
CLOCK_SKEW = timedelta(minutes=5)
# Keys whose presence tells the topics apart (Shopify's documented payloads).
_SHAPES: dict[str, tuple[dict[str, type], tuple[str, ...]]] = {
    # topic: (required key -> JSON type, keys that must be absent)
    "customers/data_request": ({"customer": dict, "data_request": dict}, ("orders_to_redact",)),
    "customers/redact": ({"customer": dict, "orders_to_redact": list}, ("data_request", "orders_requested")),
    "shop/redact": ({}, ("customer", "data_request", "orders_requested", "orders_to_redact")),
}


class BadDelivery(ValueError):
    """A signed delivery that cannot be a Shopify privacy webhook; the message names what is wrong."""


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode())


def webhook_access() -> AccessContext:
    return AccessContext.for_principal(
        Principal("webhook:shopify", "shopify", "compliance_officer"), "data_subject_rights"
    )


def parse_payload(topic: str, body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery, checked against its topic's shape."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadDelivery("body: not valid JSON") from None
    except RecursionError:  # the C decoder recurses once per level
        raise BadDelivery("body: JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise BadDelivery("body: must be a JSON object")
    required, absent = _SHAPES[topic]
    for key, kind in required.items():
        if not isinstance(payload.get(key), kind):
            raise BadDelivery(f"{key}: a {topic} payload needs it as a JSON {'object' if kind is dict else 'array'}")
    present = [key for key in absent if key in payload]
    if present:
        raise BadDelivery(f"{', '.join(present)}: not part of a {topic} payload (topic and body do not match)")
    if not isinstance(payload.get("shop_domain", ""), str):
        raise BadDelivery("shop_domain: must be a string")
    customer = payload.get("customer", {})
    customer_id = customer.get("id")
    if customer_id is not None and (isinstance(customer_id, bool) or not isinstance(customer_id, int | str)):
        raise BadDelivery("customer.id: must be a number or a string")
    if not isinstance(customer.get("email") or "", str):
        raise BadDelivery("customer.email: must be a string")
    return payload


def record_request(
    session: Session, store: Store, topic: str, payload: dict[str, Any], webhook_id: str, window: timedelta
) -> DsrRequest:
    """The request a verified webhook asks for (idempotent on the webhook id, and on the subject and topic
    within `window`)."""
    access = webhook_access()
    kind = TOPICS[topic]
    customer = payload.get("customer") or {}
    identifiers = []
    if customer.get("id") is not None:
        identifiers.append(service.SubjectIdentifier("shopify_customer_id", str(customer["id"])))
    if customer.get("email"):
        identifiers.append(service.SubjectIdentifier("email", customer["email"]))
    if kind != "shop_redaction" and not identifiers:
        raise BadDelivery("customer: an id or an email is required")
    request = service.create_request(
        session,
        store,
        access,
        kind=kind,
        identifiers=identifiers,
        source="shopify",
        external_ref=f"shopify:{webhook_id}",
        shop_domain=str(payload.get("shop_domain") or "")[:255] or None,
        dedupe_within=window,
    )
    if kind != "shop_redaction" and request.status == "received":
        request = service.mark_verified(session, access, request.id, "shopify_webhook")
    return request


def shopify_endpoint(store: Store):  # noqa: ANN201 - a Starlette endpoint
    async def endpoint(request: Request) -> Response:
        settings = get_dsr_settings()
        if not settings.shopify_api_secret:
            return _error(503, "the Shopify webhook is disabled: CDP_SHOPIFY_API_SECRET is not set")
        body = await _read_limited(request)
        if body is None:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        if not signature_valid(settings.shopify_api_secret, body, request.headers.get("x-shopify-hmac-sha256")):
            return _error(401, "invalid or missing X-Shopify-Hmac-Sha256 signature")
        window = timedelta(seconds=settings.shopify_replay_window_seconds)
        try:
            topic, webhook_id = _check_headers(request, window)
            payload = parse_payload(topic, body)
            created = await run_in_threadpool(
                store.run, lambda session: record_request(session, store, topic, payload, webhook_id, window)
            )
        except ValueError as exc:  # BadDelivery, and the DSR service's refusals
            return _error(400, str(exc))
        return JSONResponse({"request_id": created.id, "kind": created.kind, "status": created.status})

    return endpoint


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None as soon as it passes MAX_BODY_BYTES (a declared length is believed first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _check_headers(request: Request, window: timedelta) -> tuple[str, str]:
    topic = request.headers.get("x-shopify-topic", "")
    if topic not in TOPICS:
        raise BadDelivery(f"X-Shopify-Topic: not handled; expected one of {', '.join(TOPICS)}")
    webhook_id = request.headers.get("x-shopify-webhook-id", "").strip()
    if not webhook_id:
        raise BadDelivery("X-Shopify-Webhook-Id: missing")
    if len(webhook_id) > MAX_WEBHOOK_ID_CHARS or not webhook_id.isprintable():
        raise BadDelivery(f"X-Shopify-Webhook-Id: must be at most {MAX_WEBHOOK_ID_CHARS} printable characters")
    try:
        triggered = datetime.fromisoformat(request.headers.get("x-shopify-triggered-at", "").strip())
    except ValueError:
        raise BadDelivery("X-Shopify-Triggered-At: missing or not an ISO 8601 time") from None
    if triggered.tzinfo is None:
        raise BadDelivery("X-Shopify-Triggered-At: needs a time zone")
    now = datetime.now(UTC)
    if triggered < now - window:
        raise BadDelivery(f"X-Shopify-Triggered-At: older than the replay window ({int(window.total_seconds())} s)")
    if triggered > now + CLOCK_SKEW:
        raise BadDelivery("X-Shopify-Triggered-At: in the future")
    return topic, webhook_id


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)
