"""POST /connectors/shopify: Shopify's data webhooks, verified, idempotent, mapped through the ingest service."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from cdp.dsr.settings import get_dsr_settings
from cdp.events.models import Event
from cdp.store import Store
from consent.models import ConsentRecord
from tests.activation_helpers import fixture, send_shopify
from tests.reads import events, identities, traits


@pytest.fixture
def client(shopify_client: TestClient) -> TestClient:
    return shopify_client


def _stored(store: Store) -> list[Event]:
    with store.session() as session:
        return list(session.execute(select(Event).order_by(Event.received_at)).scalars())


def test_customer_webhook_maps_language_and_marketing_consent(store: Store, client: TestClient) -> None:
    response = send_shopify(client, "customers/create", fixture("customer"), "wh-1")
    assert response.status_code == 200 and response.json()["status"] == "stored"
    [identify] = _stored(store)
    assert (identify.type, identify.source, identify.source_event_id) == ("identify", "shopify", "wh-1")
    with store.session() as session:
        held = {(i.kind, i.value) for i in identities(session, store, identify.profile_id)}
        assert held == {
            ("email", "bob.norman@example.de"),
            ("phone", "+4930901820"),
            ("shopify_customer_id", "207119551"),
        }
        assert {n: t.value for n, t in traits(session, store, identify.profile_id).items()} == {
            "first_name": "Bob",
            "last_name": "Norman",
            "language": "de",
        }
        [consent] = session.execute(select(ConsentRecord)).scalars()
    assert (consent.purpose, consent.status, consent.source, consent.jurisdiction) == (
        "marketing.email",
        "granted",
        "shopify",
        "EU",
    )
    # the same delivery again (Shopify retries), and an update with an unchanged answer: nothing new
    assert send_shopify(client, "customers/create", fixture("customer"), "wh-1").json()["status"] == "duplicate"
    send_shopify(client, "customers/update", fixture("customer"), "wh-2")
    with store.session() as session:
        assert len(list(session.execute(select(ConsentRecord)).scalars())) == 1


def test_legacy_accepts_marketing_flag_is_read_when_there_is_no_consent_object(
    store: Store, client: TestClient
) -> None:
    legacy = fixture("customer", email_marketing_consent=None, accepts_marketing=False)
    send_shopify(client, "customers/create", legacy, "wh-1")
    with store.session() as session:
        [consent] = session.execute(select(ConsentRecord)).scalars()
    assert (consent.status, consent.source) == ("denied", "shopify")


def test_orders_and_checkouts_carry_items_currency_and_the_checkout_token(store: Store, client: TestClient) -> None:
    assert send_shopify(client, "checkouts/create", fixture("checkout"), "wh-c").status_code == 200
    assert send_shopify(client, "orders/create", fixture("order"), "wh-o").status_code == 200
    assert (
        send_shopify(client, "orders/updated", fixture("order", financial_status="refunded"), "wh-u").status_code == 200
    )
    cart, order, update = _stored(store)
    assert (cart.type, order.type, update.type) == ("cart", "order", "identify")  # an update is no second purchase
    assert (order.amount_minor, order.currency, cart.amount_minor) == (19800, "EUR", 19800)
    assert cart.profile_id == order.profile_id == update.profile_id
    with store.session() as session:
        by_id = {e.id: e for e in events(session, store, order.profile_id)}
    assert by_id[cart.id].properties["cart_id"] == "2a1ace52255252df566af0faaedfbfa7"
    assert by_id[order.id].properties["checkout_token"] == "2a1ace52255252df566af0faaedfbfa7"
    assert (by_id[order.id].properties["order_id"], by_id[order.id].properties["order_name"]) == (
        "820982911946154508",
        "#1001",
    )
    assert by_id[order.id].properties["items"] == [
        {"sku": "IPOD2008PINK", "title": "IPod Nano - 8GB", "quantity": 2, "price": "99.00"}
    ]
    assert by_id[update.id].properties["financial_status"] == "refunded"


def test_bad_signatures_and_an_unset_secret_store_nothing(
    store: Store, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert send_shopify(client, "orders/create", fixture("order"), "wh-1", secret="wrong").status_code == 401
    monkeypatch.setenv("CDP_SHOPIFY_API_SECRET", "")
    get_dsr_settings.cache_clear()
    assert send_shopify(client, "orders/create", fixture("order"), "wh-1", secret="").status_code == 401
    assert _stored(store) == []


def test_unknown_topics_missing_fields_and_anonymous_checkouts(store: Store, client: TestClient) -> None:
    assert send_shopify(client, "products/create", {"id": 1}, "wh-1").status_code == 400
    missing = send_shopify(client, "orders/create", fixture("order", currency=None), "wh-2")
    assert missing.status_code == 400 and missing.json()["errors"][0]["message"] == "currency: required"
    anonymous = fixture("checkout", email=None, customer=None)
    assert send_shopify(client, "checkouts/create", anonymous, "wh-3").json()["status"] == "ignored"
    bad_currency = send_shopify(client, "orders/create", fixture("order", currency="XYZ"), "wh-4")
    assert bad_currency.status_code == 422 and "unknown currency" in bad_currency.text
    assert "bob" not in bad_currency.text.lower()
    assert _stored(store) == []
