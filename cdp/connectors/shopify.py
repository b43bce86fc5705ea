"""Shopify data webhooks at POST /connectors/shopify: orders, checkouts and customers into cdp events.

Verified like the privacy webhooks (`X-Shopify-Hmac-Sha256` over the raw body with CDP_SHOPIFY_API_SECRET;
everything is refused while it is unset), idempotent on `X-Shopify-Webhook-Id` (the event's
source_event_id: Shopify retries a delivery with the same id), stored through the one ingest service.

| topic | cdp event |
| --- | --- |
| orders/create | `order`: line items, total and currency, order id and name, checkout token |
| orders/updated | `identify`: the customer's details and the order's new state (no second purchase) |
| checkouts/create, checkouts/update | `cart` whose cart_id is the checkout token |
| customers/create, customers/update | `identify`; `locale` -> trait language; email marketing state -> consent |

The customer's email marketing state is recorded as consent to marketing.email with source "shopify".
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.dsr.settings import get_dsr_settings
from cdp.ingest.consented import ConsentAnswer, ingest_with_consent
from cdp.ingest.service import INGEST_ATTEMPTS
from cdp.store import Store
from cdp.webhooks.shopify import signature_valid

TOPICS = (
    "orders/create",
    "orders/updated",
    "checkouts/create",
    "checkouts/update",
    "customers/create",
    "customers/update",
)
MAX_BODY_BYTES = 1_000_000
SOURCE = "shopify"
EMAIL_PURPOSE = "marketing.email"
# Shopify's email marketing states -> ledger statuses; pending (double opt-in unconfirmed), invalid and
# redacted record nothing.
MARKETING_STATES = {"subscribed": "granted", "unsubscribed": "withdrawn", "not_subscribed": "denied"}


class PayloadError(ValueError):
    """The payload lacks what its topic needs; the message names the field."""


def connector_access() -> AccessContext:
    return AccessContext.for_principal(
        Principal("webhook:shopify-data", "shopify", "shop_connector"), "order_fulfillment"
    )


def to_event(topic: str, payload: dict[str, Any], webhook_id: str) -> tuple[dict[str, Any] | None, list[ConsentAnswer]]:
    """The cdp event a webhook maps to (None: nothing to store, e.g. a checkout without any contact), and
    the consent answers it carries."""
    if topic.startswith("customers/"):
        return _customer_event(payload, webhook_id)
    customer = payload.get("customer") or {}
    identifiers = _identifiers(
        payload.get("email") or customer.get("email"), payload.get("phone") or customer.get("phone"), customer.get("id")
    )
    if not identifiers:
        return None, []
    traits = _names(customer) | _language(payload.get("customer_locale"))
    common = {
        "source": SOURCE,
        "source_event_id": webhook_id,
        "country": _country(payload, customer),
        "identifiers": identifiers,
        "traits": traits,
    }
    if topic == "orders/create":
        properties = {
            "order_id": str(_required(payload, "id")),
            "order_name": payload.get("name"),
            "checkout_token": payload.get("checkout_token"),
            **_money(payload),
        }
        return {
            **common,
            "type": "order",
            "occurred_at": _required(payload, "created_at"),
            "properties": properties,
        }, []
    if topic == "orders/updated":
        properties = {
            "order_id": str(_required(payload, "id")),
            "financial_status": payload.get("financial_status"),
            "fulfillment_status": payload.get("fulfillment_status"),
            "cancelled": payload.get("cancelled_at") is not None,
        }
        occurred = payload.get("updated_at") or _required(payload, "created_at")
        return {**common, "type": "identify", "occurred_at": occurred, "properties": properties}, []
    properties = {
        "cart_id": str(_required(payload, "token")),
        "checkout_url": payload.get("abandoned_checkout_url"),
        "completed": payload.get("completed_at") is not None,
        **_money(payload),
    }
    occurred = payload.get("updated_at") or _required(payload, "created_at")
    return {**common, "type": "cart", "occurred_at": occurred, "properties": properties}, []


def _customer_event(payload: dict[str, Any], webhook_id: str) -> tuple[dict[str, Any] | None, list[ConsentAnswer]]:
    identifiers = _identifiers(payload.get("email"), payload.get("phone"), _required(payload, "id"))
    event = {
        "source": SOURCE,
        "source_event_id": webhook_id,
        "type": "identify",
        "occurred_at": payload.get("updated_at") or _required(payload, "created_at"),
        "country": _country(payload, payload),
        "identifiers": identifiers,
        "traits": _names(payload) | _language(payload.get("locale")),
    }
    return event, _marketing_answers(payload)


def _marketing_answers(customer: dict[str, Any]) -> list[ConsentAnswer]:
    """email_marketing_consent (current API versions) wins over the legacy accepts_marketing flag."""
    consent = customer.get("email_marketing_consent")
    if isinstance(consent, dict) and consent.get("state") in MARKETING_STATES:
        at = consent.get("consent_updated_at")
        return [
            ConsentAnswer(
                EMAIL_PURPOSE, MARKETING_STATES[consent["state"]], SOURCE, datetime.fromisoformat(at) if at else None
            )
        ]
    if isinstance(customer.get("accepts_marketing"), bool):
        at = customer.get("accepts_marketing_updated_at")
        status = "granted" if customer["accepts_marketing"] else "denied"
        return [ConsentAnswer(EMAIL_PURPOSE, status, SOURCE, datetime.fromisoformat(at) if at else None)]
    return []


def _identifiers(email: object, phone: object, customer_id: object) -> dict[str, str]:
    found = {"email": email, "phone": phone, "shopify_customer_id": customer_id}
    return {k: str(v) for k, v in found.items() if v not in (None, "")}


def _names(customer: dict[str, Any]) -> dict[str, Any]:
    return {k: customer[k] for k in ("first_name", "last_name") if customer.get(k)}


def _language(locale: object) -> dict[str, Any]:
    return {"language": str(locale)} if locale else {}


def _country(payload: dict[str, Any], customer: dict[str, Any]) -> str | None:
    for address in (payload.get("billing_address"), payload.get("shipping_address"), customer.get("default_address")):
        if isinstance(address, dict) and address.get("country_code"):
            return str(address["country_code"])
    return None


def _money(payload: dict[str, Any]) -> dict[str, Any]:
    items = [
        {
            "sku": item.get("sku"),
            "title": item.get("title"),
            "quantity": item.get("quantity"),
            "price": item.get("price"),
        }
        for item in payload.get("line_items") or []
    ]
    return {"total": _required(payload, "total_price"), "currency": _required(payload, "currency"), "items": items}


def _required(payload: dict[str, Any], name: str) -> Any:
    value = payload.get(name)
    if value in (None, ""):
        raise PayloadError(f"{name}: required")
    return value


def shopify_data_endpoint(store: Store):  # noqa: ANN201 - a Starlette endpoint
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        secret = get_dsr_settings().shopify_api_secret
        if not signature_valid(secret, body, request.headers.get("x-shopify-hmac-sha256")):
            return _error(401, "invalid or missing X-Shopify-Hmac-Sha256 signature (or CDP_SHOPIFY_API_SECRET unset)")
        topic = request.headers.get("x-shopify-topic", "")
        if topic not in TOPICS:
            return _error(400, f"X-Shopify-Topic {topic!r} not handled here; expected one of {', '.join(TOPICS)}")
        webhook_id = request.headers.get("x-shopify-webhook-id", "").strip()
        if not webhook_id:
            return _error(400, "missing X-Shopify-Webhook-Id header")
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise PayloadError("body must be a JSON object")
            event, answers = to_event(topic, payload, webhook_id)
        except ValueError as exc:
            return _error(400, str(exc))
        if event is None:  # 200: Shopify would retry (and finally drop the subscription) on an error
            return JSONResponse({"status": "ignored", "reason": "no email, phone or customer id to attach it to"})
        access = connector_access()
        [outcome] = await run_in_threadpool(
            store.run, lambda s: ingest_with_consent(s, store, access, [event], {0: answers}), attempts=INGEST_ATTEMPTS
        )
        if outcome.status == "rejected":
            return _error(422, "; ".join(outcome.errors))
        return JSONResponse({"status": outcome.status, "event_id": outcome.event_id})

    return endpoint


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)
