"""`cdp import --workers 2`: two processes ingest the batches of one file at the same time, on PostgreSQL and on
SQLite (where they take turns to write). The file is built so that the batches race: every customer's events
are spread over different batches, first introducing identifiers separately, then linking them (merges), with a
re-sent copy of one event and trait values whose newest observation must win whatever the order of arrival.
The expected result is written by hand and holds for any order of the batches."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col
from typer.testing import CliRunner

from cdp.cli.main import app
from cdp.events.models import Event, EventKey
from cdp.identity.models import Profile, ReviewItem
from cdp.ingest.service import INGEST_ATTEMPTS, ingest
from cdp.settings import Settings
from cdp.store import Store
from cdp.traits import service as traits_service
from cdp.traits.models import ComputedTrait
from tests import reads
from tests.factories import OPERATOR, event, ingest_all, order

CUSTOMERS = 24
runner = CliRunner()


def _customer(n: int) -> tuple[dict[str, str], list[dict]]:
    email, phone, device = f"racer{n}@example.com", f"+4915112340{n:03d}", f"device-racer-{n}"
    events = [
        event({"email": email}, source_event_id=f"c{n}-identify", occurred_at="2026-01-02T10:00:00+00:00",
              traits={"city": f"Second {n}"}),
        event({"phone": phone}, type="page_view", source_event_id=f"c{n}-view",
              occurred_at="2026-01-03T10:00:00+00:00"),
        order({"email": email, "phone": phone}, source_event_id=f"c{n}-order-1",
              occurred_at="2026-01-05T10:00:00+00:00", traits={"city": f"Newest {n}"}),
        order({"phone": phone, "device_id": device}, source_event_id=f"c{n}-order-2",
              occurred_at="2026-01-01T10:00:00+00:00", traits={"city": f"Oldest {n}"}),
    ]  # fmt: skip
    return {"email": email, "phone": phone, "device_id": device}, [*events, events[2]]  # the first order twice


def _count(store: Store, model: type) -> int:
    with store.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_two_workers_store_each_event_once_and_each_customer_as_one_profile(cli_env: Settings, tmp_path: Path) -> None:
    customers = [_customer(n) for n in range(CUSTOMERS)]
    lines = [json.dumps(e) for _, events in customers for e in events]
    random.Random(15).shuffle(lines)  # one customer's events land in batches that run at the same time
    path = tmp_path / "race.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = runner.invoke(app, ["import", str(path), "--workers", "2", "--batch-size", "4"])

    assert result.exit_code == 0, result.output
    assert f"{4 * CUSTOMERS} stored, {CUSTOMERS} duplicates, 0 rejected of {5 * CUSTOMERS} lines" in result.output
    store = Store.open(cli_env)
    try:
        assert _count(store, Event) == _count(store, EventKey) == 4 * CUSTOMERS
        assert _count(store, ReviewItem) == 0
        with store.session() as s:
            roots = select(func.count()).select_from(Profile).where(col(Profile.merged_into).is_(None))
            assert s.execute(roots).scalar_one() == CUSTOMERS
            for n, (identifiers, _) in enumerate(customers):
                [root] = {reads.find(s, store, kind, value) for kind, value in identifiers.items()}
                assert root is not None
                assert len(reads.events(s, store, root)) == 4
                assert reads.traits(s, store, root)["city"].value == f"Newest {n}"  # the newest observation
                computed = s.get(ComputedTrait, root)
                assert computed is not None and computed.order_count == 2  # neither batch's order missed
    finally:
        store.close()


# -- two batches of one customer, interleaved on purpose (PostgreSQL: the second writer's wait is visible) -----
def _wait_until_blocked_or(store: Store, done: threading.Event) -> None:
    """Until another session of this database waits for a lock (or `done` is set)."""
    with store.engine.connect() as conn:
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        for _ in range(1200):
            if done.is_set() or conn.execute(waiting).scalar_one():
                return
            done.wait(0.05)
    raise AssertionError("the second batch neither waited nor got on")


def _second_batch(store: Store, raw: dict, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            store.run(lambda s: ingest(s, store, OPERATOR, [raw]), attempts=INGEST_ATTEMPTS)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    return threading.Thread(target=run)


def test_a_customers_computed_traits_count_a_concurrent_batchs_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch 2 reads the customer's orders while batch 1 (one more order) is not committed yet, and writes after
    it committed: without the root lock it would overwrite batch 1's figures with a count missing its order."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL's lock view; on SQLite a batch writes only while it holds the one write lock")
    ids = {"email": "twice@example.com"}
    [first] = ingest_all(store, event(ids))
    gathered, committed = threading.Event(), threading.Event()
    real_gather = traits_service._gather

    def gather_then_hold(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - passes through
        histories = real_gather(*args, **kwargs)
        gathered.set()
        committed.wait(60)
        return histories

    errors: list[BaseException] = []
    second = _second_batch(store, order(ids, occurred_at="2026-01-06T10:00:00+00:00"), errors)
    with store.transaction() as session:
        ingest(session, store, OPERATOR, [order(ids, occurred_at="2026-01-05T10:00:00+00:00")])
        monkeypatch.setattr(traits_service, "_gather", gather_then_hold)
        second.start()
        _wait_until_blocked_or(store, gathered)
    committed.set()
    second.join()
    assert not errors
    with store.session() as s:
        computed = s.get(ComputedTrait, first.profile_id)
        assert computed is not None and computed.order_count == 2


def test_a_merge_a_concurrent_batch_made_first_is_built_on_not_undone(store: Store) -> None:
    """P0, P1, P2 in order of age. Batch 1 links P1 and P2 (P2 absorbed into P1) and holds; batch 2, reading P2
    as a root, links P0 and P2 (P2 into P0) and waits for P2's row. Once batch 1 commits, batch 2's merge no
    longer holds: it runs again and merges P1's group into P0. One customer in the end, not P1 cut off from the
    phone number that joined it to P2."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL's lock view; on SQLite a batch writes only while it holds the one write lock")
    p0_ids, p1_ids, p2_ids = {"external_id": "ext-p0"}, {"email": "p1@example.com"}, {"phone": "+4915112349999"}
    [p0], [p1], [p2] = (ingest_all(store, event(ids)) for ids in (p0_ids, p1_ids, p2_ids))
    errors: list[BaseException] = []
    second = _second_batch(store, event(p0_ids | p2_ids), errors)
    with store.transaction() as session:
        [linked] = ingest(session, store, OPERATOR, [event(p1_ids | p2_ids)])
        assert linked.merged_profile_ids == [p2.profile_id]
        second.start()
        _wait_until_blocked_or(store, threading.Event())
    second.join()
    assert not errors
    with store.session() as s:
        parents = {pid: s.get(Profile, pid).merged_into for pid in (p0.profile_id, p1.profile_id, p2.profile_id)}
        assert parents == {p0.profile_id: None, p1.profile_id: p0.profile_id, p2.profile_id: p1.profile_id}
        assert {reads.find(s, store, k, v) for k, v in (p0_ids | p1_ids | p2_ids).items()} == {p0.profile_id}
