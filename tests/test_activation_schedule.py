"""Birthday, win-back and review-request triggers, quiet hours and frequency caps; times computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cdp.access.gate import AccessContext
from cdp.activation.models import TriggerJob
from cdp.consents.service import record_consent
from cdp.outbox import service as outbox
from cdp.store import Store
from cdp.worker.loop import run_once
from tests.activation_helpers import DESTINATION_SECRET, receiver
from tests.factories import event, ingest_all

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # events are received "now" (real time), long before this


def _destination(store: Store, url: str) -> None:
    access = AccessContext.operator("marketing.email")
    store.run(
        lambda s: outbox.register_destination(
            s, store, access, name="esp", url=url, secret=DESTINATION_SECRET, purpose="marketing.email"
        )
    )


def _grant(store: Store, profile_id: str) -> None:
    access = AccessContext.operator("marketing.email")
    store.run(
        lambda s: record_consent(
            s, access, profile_id=profile_id, purpose="marketing.email", status="granted", source="api"
        )
    )


def _job(store: Store, prefix: str) -> TriggerJob:
    with store.session() as session:
        [job] = [j for j in session.execute(select(TriggerJob)).scalars() if j.key.startswith(prefix)]
        return job


def test_birthday_greets_at_nine_local_time_in_the_customers_language(store: Store) -> None:
    tokyo = event(
        {"email": "hanako@example.jp"},
        country="JP",
        occurred_at="2027-01-10T10:00:00+09:00",
        traits={"first_name": "花子", "birthday": "1990-03-05", "timezone": "Asia/Tokyo", "language": "ja"},
    )
    la = event(
        {"email": "amy@example.com"},
        country="US",
        occurred_at="2027-01-10T10:00:00-08:00",
        traits={"first_name": "Amy", "birthday": "1985-03-05", "timezone": "America/Los_Angeles"},
    )
    [jp, us] = ingest_all(store, tokyo, la)
    _grant(store, jp.profile_id)  # JP is opt-in; the US customer has not objected (opt-out)
    with receiver() as esp:
        _destination(store, esp.url)
        run_once(store, now=NOW)
        with store.session() as session:
            due = {
                j.profile_id: j.due_at for j in session.execute(select(TriggerJob)).scalars() if j.trigger == "birthday"
            }
        # 5 March 09:00 in Tokyo (UTC+9) is 00:00 UTC; in Los Angeles (PST, UTC-8) it is 17:00 UTC.
        assert due[jp.profile_id] == datetime(2027, 3, 5, 0, 0, tzinfo=UTC)
        assert due[us.profile_id] == datetime(2027, 3, 5, 17, 0, tzinfo=UTC)
        run_once(store, now=datetime(2027, 3, 5, 0, 1, tzinfo=UTC))
        assert [r.body["message"] for r in esp.received] == [
            {"language": "ja", "text": "花子様、お誕生日おめでとうございます！"}
        ]
        run_once(store, now=datetime(2027, 3, 5, 17, 1, tzinfo=UTC))
        assert [r.body["message"]["text"] for r in esp.received][1:] == ["Happy birthday, Amy!"]
    assert all("birthday" not in r.body["customer"] and r.signature_valid for r in esp.received)  # never sent on


def test_quiet_hours_hold_a_reminder_until_morning_local_time(store: Store) -> None:
    # A US customer's cart at 22:00 in New York (EST, UTC-5): due 23:00 local, inside quiet hours 21:00-08:00.
    cart = event(
        {"email": "late@example.com"},
        country="US",
        type="cart",
        occurred_at="2027-02-28T22:00:00-05:00",
        traits={"timezone": "America/New_York"},
        properties={"total": "10.00", "currency": "USD"},
    )
    ingest_all(store, cart)
    with receiver() as esp:
        _destination(store, esp.url)
        store_now = datetime(2027, 3, 1, 4, 1, tzinfo=UTC)  # 23:01 in New York
        run_once(store, now=store_now - timedelta(hours=6))  # plans the cart (max age 24 h)
        report = run_once(store, now=store_now)
        assert [(d.status, d.reason) for d in report.decisions] == [("postponed", "quiet hours")]
        assert _job(store, "abandoned_cart").due_at == datetime(2027, 3, 1, 13, 0, tzinfo=UTC)  # 08:00 in New York
        assert esp.received == []
        run_once(store, now=datetime(2027, 3, 1, 13, 0, tzinfo=UTC))
        assert len(esp.received) == 1


def test_frequency_cap_per_customer_and_purpose(store: Store) -> None:
    """policies/triggers.yaml caps marketing.email at 3 per 168 hours: the fourth abandoned cart is skipped."""
    with receiver() as esp:
        _destination(store, esp.url)
        start = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
        statuses = []
        for n in range(4):
            at = start + timedelta(hours=2 * n)
            cart = event(
                {"email": "often@example.com"},
                country="US",
                type="cart",
                occurred_at=at.isoformat(),
                traits={"timezone": "America/New_York"},
                properties={"total": "5.00", "currency": "USD"},
            )
            ingest_all(store, cart)
            report = run_once(store, now=at + timedelta(minutes=61))
            statuses += [(d.status, d.reason) for d in report.decisions if d.trigger == "abandoned_cart"]
        assert statuses == [("sent", None)] * 3 + [("skipped", "frequency cap 3 per 168 h")]
        assert len(esp.received) == 3


def test_win_back_after_thirty_quiet_days_and_not_while_active(store: Store) -> None:
    t0 = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)
    gone = event({"email": "gone@example.com"}, country="US", type="page_view", occurred_at=t0.isoformat())
    back = event({"email": "back@example.com"}, country="US", type="page_view", occurred_at=t0.isoformat())
    [_, active] = ingest_all(store, gone, back)
    with receiver() as esp:
        _destination(store, esp.url)
        run_once(store, now=t0 + timedelta(days=1))
        ingest_all(
            store,
            event(
                {"email": "back@example.com"},
                country="US",
                type="page_view",
                occurred_at=(t0 + timedelta(days=10)).isoformat(),
            ),
        )
        report = run_once(store, now=t0 + timedelta(days=30, minutes=1))
        decided = [(d.status, d.reason) for d in report.decisions if d.trigger == "win_back"]
        assert decided == [("sent", None)] and len(esp.received) == 1  # the returning customer's job moved on
        assert esp.received[0].body["message"]["text"] == "We miss you."
        with store.session() as session:
            job = session.execute(
                select(TriggerJob).where(TriggerJob.key == f"win_back:{active.profile_id}")
            ).scalar_one()
        assert job.status == "pending" and job.due_at == t0 + timedelta(days=40)


def test_review_request_a_week_after_the_order_carries_the_order(store: Store) -> None:
    t0 = datetime(2027, 2, 20, 15, 0, tzinfo=UTC)
    order = event(
        {"email": "buyer@example.com"},
        country="US",
        type="order",
        occurred_at=t0.isoformat(),
        properties={"order_id": "1001", "total": "20.00", "currency": "USD", "items": [{"sku": "A"}]},
    )
    ingest_all(store, order)
    with receiver() as esp:
        _destination(store, esp.url)
        run_once(store, now=t0 + timedelta(days=1))
        assert esp.received == []
        run_once(store, now=t0 + timedelta(days=7, minutes=1))
        bodies = [r.body for r in esp.received if r.body["trigger"] == "review_request"]
    assert (
        len(bodies) == 1 and bodies[0]["order"]["order_id"] == "1001" and bodies[0]["order"]["items"] == [{"sku": "A"}]
    )


def test_history_imported_long_after_the_fact_plans_no_win_back_burst(store: Store) -> None:
    old = event({"email": "old@example.com"}, country="US", type="page_view", occurred_at="2026-01-05T10:00:00+00:00")
    ingest_all(store, old)
    run_once(store, now=NOW)  # crossed 30 days of inactivity on 4 February 2026, long before the worker saw it
    with store.session() as session:
        assert [j.key for j in session.execute(select(TriggerJob)).scalars() if j.trigger == "win_back"] == []
