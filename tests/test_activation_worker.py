"""The worker's guarantees: leases return claimed work, deliveries are at least once under one idempotency
key, dead letters can be replayed, PostgreSQL workers claim disjoint rows, and destination secrets live in
the key store only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlmodel import Session
from typer.testing import CliRunner

from cdp.access.gate import AccessContext
from cdp.activation.delivery import prepare
from cdp.activation.jobs import claim_deliveries, claim_jobs
from cdp.activation.triggers import decide
from cdp.cli.main import app as cli
from cdp.db import upgrade
from cdp.outbox import service as outbox
from cdp.outbox.models import Destination, OutboxDelivery
from cdp.outbox.settings import get_outbox_settings
from cdp.settings import Settings, get_settings
from cdp.store import Store
from cdp.worker import outbox as sender
from cdp.worker.loop import run_once
from policies.errors import AccessDenied
from tests.activation_helpers import DESTINATION_SECRET, audit_entries, receiver
from tests.factories import event, ingest_all

runner = CliRunner()
T0 = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York


def _destination(store: Store, url: str, name: str = "esp") -> Destination:
    access = AccessContext.operator("marketing.email")
    return store.run(
        lambda s: outbox.register_destination(
            s, store, access, name=name, url=url, secret=DESTINATION_SECRET, purpose="marketing.email"
        )
    )


def _carts(store: Store, count: int) -> None:
    ingest_all(
        store,
        *[
            event(
                {"email": f"c{n}@example.com"},
                country="US",
                type="cart",
                occurred_at=T0.isoformat(),
                properties={"total": "5.00", "currency": "USD"},
            )
            for n in range(count)
        ],
    )


def test_claimed_jobs_come_back_after_the_lease(store: Store) -> None:
    _carts(store, 2)
    due = T0 + timedelta(minutes=61)
    run_once(store, now=T0)  # plans; nothing due yet
    first = store.run(lambda s: claim_jobs(s, now=due, lease=timedelta(minutes=2), limit=10))
    assert len(first) == 2  # ...and this worker dies before deciding them
    assert (
        store.run(lambda s: claim_jobs(s, now=due + timedelta(minutes=1), lease=timedelta(minutes=2), limit=10)) == []
    )
    again = store.run(lambda s: claim_jobs(s, now=due + timedelta(minutes=3), lease=timedelta(minutes=2), limit=10))
    assert sorted(again) == sorted(first)


def test_a_delivery_whose_answer_was_lost_is_sent_again_under_the_same_key(store: Store) -> None:
    _carts(store, 1)
    with receiver() as esp:
        _destination(store, esp.url)
        due = T0 + timedelta(minutes=61)
        run_once(store, now=T0)
        [job_id] = store.run(lambda s: claim_jobs(s, now=due, lease=timedelta(minutes=2), limit=10))
        assert store.run(lambda s: decide(s, store, job_id, now=due)).status == "sent"
        [delivery_id] = store.run(lambda s: claim_deliveries(s, now=due, lease=timedelta(minutes=2), limit=10))
        outgoing = store.run(lambda s: prepare(s, store, delivery_id))
        assert outgoing is not None
        httpx.post(
            outgoing.url,
            content=outgoing.body,
            headers={"X-CDP-Idempotency-Key": outgoing.idempotency_key, "X-CDP-Timestamp": "0", "X-CDP-Signature": "-"},
        )
        # the worker is killed here: the attempt is never recorded; after the lease another pass sends it again
        assert sender.deliver_due(store, now=due + timedelta(minutes=1)).delivered == 0
        assert sender.deliver_due(store, now=due + timedelta(minutes=3)).delivered == 1
        keys = [r.idempotency_key for r in esp.received]
    with store.session() as session:
        destination_id = session.execute(select(Destination.id)).scalar_one()
    assert keys == [f"trigger:{job_id}:{destination_id}"] * 2


def test_dead_letters_are_replayed_with_the_cli(store: Store, cli_env: Settings) -> None:
    _carts(store, 1)
    with receiver() as esp:
        esp.status = 503
        _destination(store, esp.url)
        run_once(store, now=T0)
        settings = get_outbox_settings().model_copy(update={"outbox_max_attempts": 2, "outbox_backoff_seconds": 1})
        due = T0 + timedelta(minutes=61)
        run_once(store, now=due)  # decides and makes the first attempt (default settings: retry later)
        report = sender.deliver_due(store, now=due + timedelta(hours=1), settings=settings)
        assert report.dead == 1
        with store.session() as session:
            dead = session.execute(select(OutboxDelivery)).scalar_one()
        assert dead.status == "dead" and dead.attempts == 2 and dead.last_error.startswith("dead-lettered")
        listed = runner.invoke(cli, ["outbox", "list", "--status", "dead"])
        assert dead.id in listed.output
        esp.status = 200
        replayed = runner.invoke(cli, ["outbox", "replay", dead.id])
        assert replayed.exit_code == 0, replayed.output
        assert sender.deliver_due(store, now=datetime.now(UTC)).delivered == 1
        assert len(esp.received) == 3 and esp.received[-1].signature_valid
    refused = runner.invoke(cli, ["outbox", "replay", dead.id])
    assert refused.exit_code == 1 and "only dead or cancelled ones are replayed" in " ".join(refused.output.split())
    assert [e.outcome for e in audit_entries(store, "outbox:replay")] == ["allowed"]
    details = [e.detail for e in audit_entries(store, "deliver:trigger")]
    assert details[-1] == "delivered" and any(d.startswith("dead: dead-lettered") for d in details)


def test_destination_configuration_needs_the_grant(store: Store) -> None:
    from cdp.auth.service import Principal

    agent = AccessContext.for_principal(Principal("k", "desk", "support_agent"), "support")
    with pytest.raises(AccessDenied):
        store.run(
            lambda s: outbox.register_destination(
                s,
                store,
                agent,
                name="x",
                url="http://127.0.0.1:1/",
                secret=DESTINATION_SECRET,
                purpose="marketing.email",
            )
        )
    subject = AccessContext.for_principal(Principal("k", "me", "data_subject", "p-1"), "data_subject_rights")
    with pytest.raises(AccessDenied):
        store.run(lambda s: outbox.replay(s, subject, "any"))
    with pytest.raises(AccessDenied):
        store.run(lambda s: outbox.list_deliveries(s, agent, status=None, first=10))


def test_destination_secrets_are_ciphertexts_opened_only_with_the_key_store(store: Store) -> None:
    destination = _destination(store, "http://127.0.0.1:1/hook")
    with store.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("dsr_destination")}
        stored = conn.execute(text("SELECT secret_ct FROM dsr_destination")).scalar_one()
    assert "secret" not in columns and DESTINATION_SECRET.encode() not in bytes(stored)
    with store.session() as session:
        assert outbox.open_secret(store, session.get(Destination, destination.id)) == DESTINATION_SECRET


def test_the_migration_moves_plaintext_secrets_into_the_key_store(
    database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import TEST_MASTER_KEY

    upgrade(database_url, "0004")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO dsr_destination (id, name, url, secret, active, created_at) VALUES "
                "('00000000-0000-4000-8000-000000000001', 'old', 'https://esp.test/h', :s, true, :t)"
            ),
            {"s": DESTINATION_SECRET, "t": T0},
        )
    keys = f"sqlite:///{tmp_path / 'keys.db'}"
    for name, value in (
        ("CDP_DATABASE_URL", database_url),
        ("CDP_KEYSTORE_URL", keys),
        ("CDP_MASTER_KEY", TEST_MASTER_KEY),
    ):
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        upgrade(database_url)
        store = Store.open(Settings(database_url=database_url, keystore_url=keys, master_key=TEST_MASTER_KEY))
        with Session(store.engine) as session:
            [moved] = session.execute(select(Destination)).scalars()
            assert outbox.open_secret(store, moved) == DESTINATION_SECRET and moved.purpose == "data_subject_rights"
        store.close()
    finally:
        get_settings.cache_clear()
        engine.dispose()


def test_postgres_workers_claim_disjoint_rows(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    _carts(store, 6)
    run_once(store, now=T0)
    due = T0 + timedelta(minutes=61)
    with Session(store.engine) as first, Session(store.engine) as second:
        mine = claim_jobs(first, now=due, lease=timedelta(minutes=2), limit=4)  # row locks held, not committed
        theirs = claim_jobs(second, now=due, lease=timedelta(minutes=2), limit=4)
        assert len(mine) == 4 and len(theirs) == 2 and not set(mine) & set(theirs)
        first.commit()
        second.commit()


def test_a_job_that_fails_does_not_hold_up_the_others(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import cdp.worker.loop as loop

    _carts(store, 3)
    run_once(store, now=T0)
    failing: list[str] = []

    def flaky(session, store_, job_id, *, now):  # noqa: ANN001, ANN202 - stands in for decide
        if not failing:
            failing.append(job_id)
            raise RuntimeError("boom")
        return decide(session, store_, job_id, now=now)

    monkeypatch.setattr(loop, "decide", flaky)
    report = run_once(store, now=T0 + timedelta(minutes=61))
    assert len(report.decisions) == 2  # the other two were decided in the same pass
    later = run_once(store, now=T0 + timedelta(minutes=64))  # the failed one is back after its 2-minute lease
    assert [d.job_id for d in later.decisions] == failing
