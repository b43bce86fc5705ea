"""A Segment-spec intake: POST /v1/batch, /v1/identify, /v1/track, /v1/page, /v1/screen, /v1/alias.

What the official SDKs (analytics-python, rudder-sdk-python, analytics.js) send arrives unchanged: the write key
as the HTTP basic-auth user (or `writeKey` in the body, as analytics.js does), optionally gzip-encoded,
batches up to 500 KB and messages up to 32 KB. `messageId` is the idempotency key (a re-sent message is stored
once). The write key names a source, whose role and purpose the events are written with, through the gate.

Mapping to cdp events:
- identify -> `identify`; traits email/phone become identifiers, firstName/lastName/birthday/... traits
- track "Order Completed" -> `order`; "Checkout Started" / "Cart Viewed" with a total -> `cart`;
  any other track -> `track` (the event name kept in properties)
- page, screen -> `page_view`; alias -> `identify` linking previousId and userId
- userId -> identifier external_id, anonymousId -> anonymous_id; context.locale -> language,
  context.timezone -> timezone, context.location.country / traits.address.country -> country

The answer is 200 {"success": true} when every message was stored (or already was); messages refused by
validation or the gate are listed under "rejected" with their index, messageId and reasons (still 200, as the
SDKs would otherwise retry what can never succeed). Bad credentials: 401; bad envelopes: 400; too large: 413.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cdp.access.gate import AccessContext
from cdp.auth.service import AuthError
from cdp.ingest.service import INGEST_ATTEMPTS, ingest
from cdp.ingest.sources import authenticate_write_key
from cdp.store import Store

MAX_BATCH_BYTES = 500 * 1024
MAX_MESSAGE_BYTES = 32 * 1024
CALLS = ("identify", "track", "page", "screen", "alias")
ORDER_EVENTS = {"order completed"}
CART_EVENTS = {"checkout started", "cart viewed"}
_TRAITS = {
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "name": "full_name",
    "birthday": "birthday",
    "gender": "gender",
}
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def to_event(message: dict[str, Any], source: str, call: str | None = None) -> dict[str, Any]:
    """A cdp event for one Segment message (ingest validates it and names what is wrong)."""
    kind = call or message.get("type")
    if kind not in CALLS:
        raise ValueError(f"type: expected one of {', '.join(CALLS)}")
    context = _object(message, "context")
    traits = _object(message if kind == "identify" else context, "traits")
    identifiers = {
        "external_id": message.get("userId"),
        "anonymous_id": message.get("anonymousId"),
        "email": traits.get("email"),
        "phone": traits.get("phone"),
    }
    if kind == "alias":
        identifiers["anonymous_id" if message.get("anonymousId") is None else "external_id"] = message.get("previousId")
        identifiers["external_id"] = message.get("userId")
    event: dict[str, Any] = {
        "source": source,
        "source_event_id": str(message.get("messageId") or ""),
        "occurred_at": _timestamp(message.get("timestamp") or message.get("sentAt")),
        "identifiers": {k: str(v) for k, v in identifiers.items() if v not in (None, "")},
        "traits": _traits(traits, context) if kind == "identify" else _context_traits(context),
        "properties": {},
    }
    country = _country(traits, context)
    if country:
        event["country"] = country
    properties = _object(message, "properties")
    if kind in ("identify", "alias"):
        event["type"] = "identify"
    elif kind in ("page", "screen"):
        event["type"] = "page_view"
        event["properties"] = {"name": message.get("name"), **properties}
    else:
        event.update(_track(str(message.get("event") or ""), properties))
    return event


def _object(container: dict[str, Any], key: str) -> dict[str, Any]:
    """The JSON object under `key`, or an empty one when it is missing or not an object."""
    value = container.get(key)
    return value if isinstance(value, dict) else {}


def _track(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    lowered = name.lower()
    total = properties.get("total", properties.get("revenue", properties.get("value")))
    money = {"total": str(total) if total is not None else None, "currency": properties.get("currency")}
    items = properties.get("products") if isinstance(properties.get("products"), list) else []
    if lowered in ORDER_EVENTS:
        return {"type": "order", "properties": {"order_id": properties.get("order_id"), **money, "items": items}}
    if lowered in CART_EVENTS and total is not None:
        cart_id = properties.get("cart_id") or properties.get("checkout_id")
        return {"type": "cart", "properties": {"cart_id": cart_id, **money, "items": items}}
    return {"type": "track", "properties": {"event": name, **properties}}


def _traits(traits: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    out = _context_traits(context)
    for key, value in traits.items():
        if key in ("email", "phone", "address") or isinstance(value, dict | list):
            continue
        out[_TRAITS.get(key, _SNAKE.sub("_", key).lower())] = value
    return out


def _context_traits(context: dict[str, Any]) -> dict[str, Any]:
    out = {}
    if isinstance(context.get("locale"), str):
        out["language"] = context["locale"]
    if isinstance(context.get("timezone"), str):
        out["timezone"] = context["timezone"]
    return out


def _country(traits: dict[str, Any], context: dict[str, Any]) -> str | None:
    for value in (_object(traits, "address").get("country"), _object(context, "location").get("country")):
        if isinstance(value, str) and len(value) == 2:
            return value
    return None


def _timestamp(value: object) -> str:
    """ISO 8601; the SDKs send UTC offsets, and a naive time is taken as UTC (Segment's rule)."""
    if not isinstance(value, str) or not value:
        return datetime.now(UTC).isoformat()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # ingest names the field
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def segment_endpoint(store: Store, call: str | None):  # noqa: ANN201 - a Starlette endpoint
    """POST /v1/batch (call None) or /v1/<call> for a single message."""

    async def endpoint(request: Request) -> Response:
        body, refusal = await _read(request)
        if refusal is not None:
            return refusal
        try:
            document = json.loads(body)
        except ValueError:
            return _error(400, "body is not valid JSON")
        if not isinstance(document, dict):
            return _error(400, "body must be a JSON object")
        messages = document.get("batch") if call is None else [document]
        if not isinstance(messages, list):
            return _error(400, "batch: expected a list of messages")
        write_key = _basic_user(request.headers.get("authorization")) or str(document.get("writeKey") or "")
        try:
            source, access = await run_in_threadpool(_authenticate, store, write_key)
        except AuthError as exc:
            return _error(401, str(exc))
        events, rejected = [], []
        for index, message in enumerate(messages):
            try:
                if not isinstance(message, dict):
                    raise ValueError("message: expected a JSON object")
                if len(json.dumps(message)) > MAX_MESSAGE_BYTES:
                    raise ValueError(f"message: larger than {MAX_MESSAGE_BYTES} bytes")
                events.append((index, message, to_event(message, source, call)))
            except ValueError as exc:
                rejected.append({"index": index, "messageId": _message_id(message), "errors": [str(exc)]})
        outcomes = await run_in_threadpool(
            store.run, lambda s: ingest(s, store, access, [e for _, _, e in events]), attempts=INGEST_ATTEMPTS
        )
        for (index, message, _), outcome in zip(events, outcomes, strict=True):
            if outcome.status == "rejected":
                rejected.append({"index": index, "messageId": _message_id(message), "errors": outcome.errors})
        answer: dict[str, Any] = {"success": True}
        if rejected:
            answer["rejected"] = sorted(rejected, key=lambda r: r["index"])
        return JSONResponse(answer)

    return endpoint


def _authenticate(store: Store, write_key: str) -> tuple[str, AccessContext]:
    with store.session() as session:
        source, access = authenticate_write_key(session, write_key)
        return source.event_source, access


async def _read(request: Request) -> tuple[bytes, Response | None]:
    """The body, gunzipped when sent so, and never more than MAX_BATCH_BYTES of it (a zip bomb stops there)."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BATCH_BYTES:
            return b"", _error(413, f"body larger than {MAX_BATCH_BYTES} bytes")
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw, None
    if encoding != "gzip":
        return b"", _error(415, f"Content-Encoding {encoding!r} not supported; send gzip or nothing")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, MAX_BATCH_BYTES + 1)
    except zlib.error:
        return b"", _error(400, "body is not valid gzip")
    if len(body) > MAX_BATCH_BYTES:
        return b"", _error(413, f"decompressed body larger than {MAX_BATCH_BYTES} bytes")
    return body, None


def _basic_user(header: str | None) -> str:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(encoded.strip()).decode().partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        return ""


def _message_id(message: object) -> str | None:
    return str(message.get("messageId")) if isinstance(message, dict) and message.get("messageId") else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)
