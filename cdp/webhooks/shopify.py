"""Shopify's mandatory privacy webhooks at POST /webhooks/shopify.

The signature (`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body with the app's API secret,
CDP_SHOPIFY_API_SECRET) is checked before anything else, in constant time: a bad or missing one is 401 and
nothing is stored. Deliveries are idempotent on `X-Shopify-Webhook-Id` (Shopify retries).

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


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode())


def webhook_access() -> AccessContext:
    return AccessContext.for_principal(
        Principal("webhook:shopify", "shopify", "compliance_officer"), "data_subject_rights"
    )


def record_request(session: Session, store: Store, topic: str, payload: dict[str, Any], webhook_id: str) -> DsrRequest:
    """The request a verified webhook asks for (idempotent on the webhook id)."""
    access = webhook_access()
    kind = TOPICS[topic]
    customer = payload.get("customer") or {}
    identifiers = []
    if customer.get("id") is not None:
        identifiers.append(service.SubjectIdentifier("shopify_customer_id", str(customer["id"])))
    if customer.get("email"):
        identifiers.append(service.SubjectIdentifier("email", str(customer["email"])))
    if kind != "shop_redaction" and not identifiers:
        raise ValueError("customer: an id or an email is required")
    request = service.create_request(
        session,
        store,
        access,
        kind=kind,
        identifiers=identifiers,
        source="shopify",
        external_ref=f"shopify:{webhook_id}",
        shop_domain=str(payload.get("shop_domain") or "")[:255] or None,
    )
    if kind != "shop_redaction" and request.status == "received":
        request = service.mark_verified(session, access, request.id, "shopify_webhook")
    return request


def shopify_endpoint(store: Store):  # noqa: ANN201 - a Starlette endpoint
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        secret = get_dsr_settings().shopify_api_secret
        if not signature_valid(secret, body, request.headers.get("x-shopify-hmac-sha256")):
            return _error(401, "invalid or missing X-Shopify-Hmac-Sha256 signature")
        topic = request.headers.get("x-shopify-topic", "")
        if topic not in TOPICS:
            return _error(400, f"X-Shopify-Topic {topic!r} not handled; expected one of {', '.join(TOPICS)}")
        webhook_id = request.headers.get("x-shopify-webhook-id", "").strip()
        if not webhook_id:
            return _error(400, "missing X-Shopify-Webhook-Id header")
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("body must be a JSON object")
            created = await run_in_threadpool(
                store.run, lambda session: record_request(session, store, topic, payload, webhook_id)
            )
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse({"request_id": created.id, "kind": created.kind, "status": created.status})

    return endpoint


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)
