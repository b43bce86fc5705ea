"""End to end: a Shopify checkout webhook, no order within the window, the reminder at a local receiver with
a valid signature; consent, conversion, send-time re-checks and per-purpose fields decide what goes out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from cdp.access.gate import AccessContext
from cdp.activation.jobs import claim_jobs
from cdp.activation.models import TriggerJob
from cdp.activation.planner import plan
from cdp.activation.triggers import decide
from cdp.identity.models import Profile
from cdp.outbox import service as outbox
from cdp.outbox.models import OutboxDelivery
from cdp.store import Store
from cdp.worker.loop import PassReport, run_once
from tests.activation_helpers import (
    DESTINATION_SECRET,
    Receiver,
    audit_entries,
    fixture,
    receiver,
    send_shopify,
)

# Tomorrow 12:00 UTC: 13:00 in Berlin, outside quiet hours whenever the suite runs; the worker runs 61 minutes
# after the checkout's last update, when its 60-minute window has passed.
CHECKOUT_AT = (datetime.now(UTC) + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
AFTER_WINDOW = CHECKOUT_AT + timedelta(minutes=61)


@pytest.fixture
def client(shopify_client: TestClient) -> TestClient:
    return shopify_client


@pytest.fixture
def esp(store: Store) -> Iterator[Receiver]:
    """The email tool's receiver, registered as the marketing.email destination."""
    with receiver() as box:
        _destination(store, box.url)
        yield box


def _destination(store: Store, url: str, purpose: str = "marketing.email", name: str = "esp") -> None:
    access = AccessContext.operator(purpose)
    store.run(
        lambda s: outbox.register_destination(
            s, store, access, name=name, url=url, secret=DESTINATION_SECRET, purpose=purpose
        )
    )


def _customer(client: TestClient, webhook_id: str, state: str, **changes: object) -> None:
    consent = {"state": state, "opt_in_level": "confirmed_opt_in", "consent_updated_at": CHECKOUT_AT.isoformat()}
    payload = fixture("customer", email_marketing_consent=consent, updated_at=CHECKOUT_AT.isoformat(), **changes)
    response = send_shopify(client, "customers/update", payload, webhook_id)
    assert response.status_code == 200, response.text


def _checkout(client: TestClient, webhook_id: str, token: str, at: datetime = CHECKOUT_AT, **changes: object) -> None:
    payload = fixture("checkout", token=token, created_at=at.isoformat(), updated_at=at.isoformat(), **changes)
    response = send_shopify(client, "checkouts/create", payload, webhook_id)
    assert response.status_code == 200 and response.json()["status"] == "stored", response.text


def _subscribed_cart(client: TestClient, token: str = "tok-1", **changes: object) -> None:
    """A subscribed customer's checkout, sent as the shop sends them."""
    _customer(client, "wh-customer-1", "subscribed")
    _checkout(client, "wh-checkout-1", token, **changes)


def _cart_decision(report: PassReport) -> tuple[str, str | None]:
    """(status, reason) of the one abandoned-cart decision the worker run made."""
    [decision] = [d for d in report.decisions if d.trigger == "abandoned_cart"]
    return decision.status, decision.reason


def _decided(store: Store) -> tuple[str, str]:
    """Plan, claim and decide the due job by hand, so the delivery is queued but not yet sent: (job id,
    decision status)."""
    store.run(lambda s: plan(s, store, now=AFTER_WINDOW))
    [job_id] = store.run(lambda s: claim_jobs(s, now=AFTER_WINDOW, lease=timedelta(minutes=1), limit=10))
    return job_id, store.run(lambda s: decide(s, store, job_id, now=AFTER_WINDOW)).status


def _jobs(store: Store) -> dict[str, TriggerJob]:
    with store.session() as session:
        return {j.key: j for j in session.execute(select(TriggerJob)).scalars()}


def test_abandoned_checkout_reaches_the_receiver_signed_and_in_the_customers_language(
    store: Store, client: TestClient, esp: Receiver
) -> None:
    _subscribed_cart(client, token="tok-abandoned")
    early = run_once(store, now=CHECKOUT_AT + timedelta(minutes=59))
    assert early.planned >= 1 and early.decisions == [] and esp.received == []  # not yet due
    report = run_once(store, now=AFTER_WINDOW)
    assert _cart_decision(report) == ("sent", None)
    assert report.deliveries.delivered == 1
    [got] = esp.received
    assert got.signature_valid
    body = got.body
    assert body["trigger"] == "abandoned_cart" and body["purpose"] == "marketing.email"
    assert body["customer"]["email"] == "bob.norman@example.de"
    assert body["message"] == {"language": "de", "text": "Bob, in Ihrem Warenkorb wartet noch etwas."}
    assert body["cart"]["cart_id"] == "tok-abandoned"
    assert body["cart"]["items"] == [
        {"sku": "IPOD2008PINK", "title": "IPod Nano - 8GB", "quantity": 2, "price": "99.00"}
    ]
    assert (body["cart"]["total"], body["cart"]["currency"]) == ("198.00", "EUR")
    assert "last_name" not in body["customer"] or body["customer"]["last_name"] == "Norman"
    [sent] = [e for e in audit_entries(store, "trigger:abandoned_cart")]
    assert sent.outcome == "allowed" and sent.detail.startswith("sent")
    [delivered] = audit_entries(store, "deliver:trigger")
    assert delivered.role == "destination" and delivered.detail == "delivered"


def test_the_same_customer_without_consent_gets_nothing_and_the_decision_is_audited(
    store: Store, client: TestClient, esp: Receiver
) -> None:
    _subscribed_cart(client)
    run_once(store, now=AFTER_WINDOW)
    assert len(esp.received) == 1
    _customer(client, "wh-customer-2", "unsubscribed")  # withdraws in the shop
    later = CHECKOUT_AT + timedelta(hours=2)
    _checkout(client, "wh-checkout-2", "tok-2", at=later)
    report = run_once(store, now=later + timedelta(minutes=61))
    assert _cart_decision(report) == ("skipped", "consent withdrawn for marketing.email")
    assert report.deliveries.delivered == 0 and len(esp.received) == 1
    denied = [e for e in audit_entries(store, "trigger:abandoned_cart") if e.outcome == "denied"]
    assert len(denied) == 1 and denied[0].detail == "skipped: consent withdrawn for marketing.email"
    assert denied[0].role == "trigger_engine" and denied[0].purpose == "marketing.email"
    assert "bob" not in denied[0].detail.lower()


def test_an_eu_customer_who_never_answered_gets_nothing(store: Store, client: TestClient, esp: Receiver) -> None:
    _checkout(client, "wh-checkout-1", "tok-1")  # a guest checkout: no marketing answer on record
    report = run_once(store, now=AFTER_WINDOW)
    assert esp.received == []
    assert _cart_decision(report) == ("skipped", "no consent for marketing.email (EU: opt-in)")


def test_an_order_within_the_window_cancels_the_reminder(store: Store, client: TestClient, esp: Receiver) -> None:
    _subscribed_cart(client)
    order = fixture("order", created_at=(CHECKOUT_AT + timedelta(minutes=20)).isoformat())
    assert send_shopify(client, "orders/create", order, "wh-order-1").json()["status"] == "stored"
    report = run_once(store, now=AFTER_WINDOW)
    assert esp.received == []
    assert _cart_decision(report) == ("skipped", "ordered after the cart")


def test_consent_withdrawn_after_the_decision_cancels_the_delivery_at_send_time(
    store: Store, client: TestClient, esp: Receiver
) -> None:
    _subscribed_cart(client)
    assert _decided(store)[1] == "sent"
    _customer(client, "wh-customer-2", "unsubscribed")
    report = run_once(store, now=AFTER_WINDOW + timedelta(seconds=1))
    assert (report.deliveries.delivered, report.deliveries.cancelled) == (0, 1) and esp.received == []
    with store.session() as session:
        [delivery] = session.execute(select(OutboxDelivery)).scalars()
    assert delivery.status == "cancelled" and delivery.last_error == "consent withdrawn for marketing.email"
    [cancelled] = audit_entries(store, "deliver:trigger")
    assert cancelled.outcome == "denied" and cancelled.role == "destination"


def test_a_destination_gets_only_the_fields_its_purpose_allows(store: Store, client: TestClient) -> None:
    """A `marketing` destination (not the email channel) is never handed the email address."""
    with receiver() as email_tool, receiver() as crm:
        _destination(store, email_tool.url, "marketing.email", name="esp")
        _destination(store, crm.url, "marketing", name="crm")
        us = {"country_code": "US", "default": True}
        _customer(
            client, "wh-customer-1", "subscribed", default_address=us, email="ann@example.com", id=99, locale="en"
        )
        payload = fixture(
            "checkout",
            token="tok-us",
            created_at=CHECKOUT_AT.isoformat(),
            updated_at=CHECKOUT_AT.isoformat(),
            email="ann@example.com",
            customer={"id": 99, "email": "ann@example.com", "first_name": "Ann"},
            billing_address={"country_code": "US"},
            customer_locale="en",
        )
        send_shopify(client, "checkouts/create", payload, "wh-checkout-us")
        run_once(store, now=AFTER_WINDOW)
        [to_esp], [to_crm] = email_tool.received, crm.received
    assert to_esp.body["customer"]["email"] == "ann@example.com"
    assert "email" not in to_crm.body["customer"] and to_crm.body["customer"]["first_name"] == "Ann"
    assert to_crm.signature_valid and to_crm.body["message"]["text"] == "Ann, you left something in your cart."


def test_a_checkout_the_shop_reports_completed_gets_no_reminder(
    store: Store, client: TestClient, esp: Receiver
) -> None:
    _subscribed_cart(client, completed_at=CHECKOUT_AT.isoformat())
    report = run_once(store, now=AFTER_WINDOW)
    assert esp.received == []
    assert _cart_decision(report) == ("skipped", "checkout completed")


def test_a_customer_restricted_after_the_decision_is_not_sent(store: Store, client: TestClient, esp: Receiver) -> None:
    _subscribed_cart(client)
    job_id, decided = _decided(store)
    with store.session() as session:  # a restriction request was executed in between (status as DSR sets it)
        session.get(Profile, session.get(TriggerJob, job_id).profile_id).status = "restricted"
        session.commit()
    report = run_once(store, now=AFTER_WINDOW + timedelta(seconds=1))
    assert decided == "sent" and report.deliveries.cancelled == 1 and esp.received == []
    with store.session() as session:
        [delivery] = session.execute(select(OutboxDelivery)).scalars()
    assert delivery.last_error == "restricted: processing limited to legal_compliance"
