"""Shopify's mandatory privacy webhooks, through the real ASGI app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from cdp.dsr.models import DsrRequest
from cdp.store import Store
from tests import dsr_helpers as doors
from tests.activation_helpers import SHOPIFY_SECRET
from tests.dsr_helpers import OFFICER
from tests.factories import event, ingest_all

SECRET = SHOPIFY_SECRET  # the app's Shopify secret in the `shopify_client` fixture (tests/conftest.py)


@pytest.fixture
def client(shopify_client: TestClient) -> TestClient:
    return shopify_client


def _post(client: TestClient, topic: str, payload: dict, *, webhook_id: str = "wh-1", secret: str = SECRET,
          signature: str | None = None):  # fmt: skip
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id, "Content-Type": "application/json",
               "X-Shopify-Triggered-At": datetime.now(UTC).isoformat()}  # fmt: skip
    if signature != "":
        headers["X-Shopify-Hmac-Sha256"] = signature or digest
    return client.post("/webhooks/shopify", content=body, headers=headers)


def _count(store: Store) -> int:
    with store.session() as s:
        return s.execute(select(func.count()).select_from(DsrRequest)).scalar_one()


REDACT = {
    "shop_id": 954889,
    "shop_domain": "example-shop.myshopify.com",
    "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
    "orders_to_redact": [299938, 280263],
}


@pytest.mark.parametrize(
    ("secret", "signature"),
    [("wrong-secret-0123456789", None), (SECRET, ""), (SECRET, "bm90IGEgc2lnbmF0dXJl")],
    ids=["wrong-secret", "missing", "garbage"],
)
def test_bad_or_missing_signature_is_401_and_stores_nothing(
    client: TestClient, store: Store, secret: str, signature: str | None
) -> None:
    response = _post(client, "customers/redact", REDACT, secret=secret, signature=signature)
    assert response.status_code == 401
    assert "X-Shopify-Hmac-Sha256" in response.json()["errors"][0]["message"]
    assert _count(store) == 0


def test_a_tampered_body_fails_the_signature(client: TestClient, store: Store) -> None:
    body = json.dumps(REDACT).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    response = client.post(
        "/webhooks/shopify",
        content=body.replace(b"191167", b"191168"),
        headers={"X-Shopify-Topic": "customers/redact", "X-Shopify-Webhook-Id": "w", "X-Shopify-Hmac-Sha256": digest},
    )
    assert response.status_code == 401 and _count(store) == 0


def test_customers_redact_creates_a_verified_erasure_request_once(client: TestClient, store: Store) -> None:
    [known] = ingest_all(store, event({"shopify_customer_id": "191167"}, country="US", traits={"region": "CA"}))
    first = _post(client, "customers/redact", REDACT, webhook_id="wh-redact-1")
    again = _post(client, "customers/redact", REDACT, webhook_id="wh-redact-1")  # Shopify retries
    assert first.status_code == again.status_code == 200
    assert first.json()["request_id"] == again.json()["request_id"]
    assert _count(store) == 1
    request = doors.load(store, OFFICER, first.json()["request_id"])
    assert (request.kind, request.status, request.profile_id) == ("erasure", "verified", known.profile_id)
    assert request.jurisdiction == "US-CA" and request.verification_method == "shopify_webhook"
    assert request.shop_domain == "example-shop.myshopify.com"
    outcome = doors.execute(store, OFFICER, request.id)
    assert outcome.request.status == "completed" and outcome.certificate["data_keys_destroyed"] == 1


def test_customers_data_request_finds_the_customer_by_email(client: TestClient, store: Store) -> None:
    [known] = ingest_all(store, event({"email": "john@example.com"}, country="DE"))
    payload = {"shop_domain": "example-shop.myshopify.com", "customer": {"id": 5, "email": "John@Example.com"},
               "data_request": {"id": 9999}}  # fmt: skip
    response = _post(client, "customers/data_request", payload, webhook_id="wh-access-1")
    assert response.status_code == 200
    request = doors.load(store, OFFICER, response.json()["request_id"])
    assert (request.kind, request.profile_id, request.jurisdiction) == ("access", known.profile_id, "EU")


def test_shop_redact_is_recorded_for_an_officer_and_erases_nothing(client: TestClient, store: Store) -> None:
    ingest_all(store, event({"email": "keep@example.com"}))
    response = _post(client, "shop/redact", {"shop_id": 954889, "shop_domain": "gone.myshopify.com"}, webhook_id="s1")
    assert response.status_code == 200 and response.json()["kind"] == "shop_redaction"
    request = doors.load(store, OFFICER, response.json()["request_id"])
    assert request.status == "received" and request.shop_domain == "gone.myshopify.com"


def test_unknown_topic_and_missing_customer_are_400(client: TestClient, store: Store) -> None:
    assert _post(client, "orders/create", {"id": 1}).status_code == 400
    response = _post(client, "customers/redact", {"shop_domain": "x.myshopify.com", "customer": {}})
    assert response.status_code == 400 and "customer" in response.json()["errors"][0]["message"]
    assert _count(store) == 0
