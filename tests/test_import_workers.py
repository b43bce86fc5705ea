"""`cdp import --workers 2`: two processes ingest the batches of one file at the same time, on PostgreSQL and on
SQLite (where they take turns to write), and through a transaction-pooling pgbouncer. Lines joined by an
identifier go to the same process; here every customer already exists with an email and a phone, and the file
reaches it through two groups of lines that share no identifier (one by email, one by phone), which may land on
different processes and then write to the same customer at the same time: traits whose newest observation must
win whatever the order, orders the computed traits must all count, a re-sent event stored once. The expected
result is written by hand and holds for any order of the batches."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import col
from typer.testing import CliRunner

from cdp.cli.importer import import_file
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
    """The customer's identifiers, and the file's lines about it (the first order sent twice)."""
    email, phone = f"racer{n}@example.com", f"+4915112340{n:03d}"
    by_email = [
        order({"email": email, "device_id": f"laptop-{n}"}, source_event_id=f"c{n}-order-1",
              occurred_at="2026-01-02T10:00:00+00:00", traits={"city": f"Second {n}"}),
        event({"email": email}, type="page_view", source_event_id=f"c{n}-view",
              occurred_at="2026-01-03T10:00:00+00:00"),
    ]  # fmt: skip
    by_phone = [
        order({"phone": phone, "device_id": f"phone-{n}"}, source_event_id=f"c{n}-order-2",
              occurred_at="2026-01-05T10:00:00+00:00", traits={"city": f"Newest {n}"}),
        order({"phone": phone}, source_event_id=f"c{n}-order-3", occurred_at="2026-01-01T10:00:00+00:00",
              traits={"city": f"Oldest {n}"}),
    ]  # fmt: skip
    return {"email": email, "phone": phone}, [*by_email, *by_phone, by_email[0]]


def _race_file(store: Store, tmp_path: Path) -> tuple[list[dict[str, str]], Path]:
    """Every customer stored with both identifiers; the file of their lines, shuffled."""
    customers = [_customer(n) for n in range(CUSTOMERS)]
    known = ingest_all(store, *(event(ids, source_event_id=f"known-{n}") for n, (ids, _) in enumerate(customers)))
    assert {o.status for o in known} == {"stored"}
    lines = [json.dumps(e) for _, events in customers for e in events]
    random.Random(15).shuffle(lines)
    path = tmp_path / "race.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return [ids for ids, _ in customers], path


def _count(store: Store, model: type) -> int:
    with store.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _assert_one_customer_each(store: Store, customers: list[dict[str, str]]) -> None:
    assert _count(store, Event) == _count(store, EventKey) == 5 * CUSTOMERS
    assert _count(store, ReviewItem) == 0
    with store.session() as s:
        roots = select(func.count()).select_from(Profile).where(col(Profile.merged_into).is_(None))
        assert s.execute(roots).scalar_one() == CUSTOMERS
        for n, identifiers in enumerate(customers):
            [root] = {reads.find(s, store, kind, value) for kind, value in identifiers.items()}
            assert root is not None
            assert len(reads.events(s, store, root)) == 5
            assert reads.traits(s, store, root)["city"].value == f"Newest {n}"  # the newest observation
            computed = s.get(ComputedTrait, root)
            assert computed is not None and computed.order_count == 3  # no batch's order missed


def test_two_workers_store_each_event_once_and_each_customer_as_one_profile(
    store: Store, cli_env: Settings, tmp_path: Path
) -> None:
    customers, path = _race_file(store, tmp_path)
    result = runner.invoke(app, ["import", str(path), "--workers", "2", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert f"{4 * CUSTOMERS} stored, {CUSTOMERS} duplicates, 0 rejected of {5 * CUSTOMERS} lines" in result.output
    _assert_one_customer_each(store, customers)


@pytest.fixture
def pgbouncer(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A pgbouncer in transaction mode in front of the test database, with two server connections for all
    its clients: the URL to reach the database through it."""
    binary = shutil.which("pgbouncer")
    if not settings.database_url.startswith("postgresql") or binary is None:
        pytest.skip("needs PostgreSQL and a pgbouncer binary")
    server = make_url(settings.database_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path / "pgbouncer"
    folder.mkdir()
    (folder / "users.txt").write_text(f'"{server.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={server.host} port={server.port}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\npool_mode = transaction\n"
        "default_pool_size = 2\nmax_client_conn = 100\n"
    )
    for path in (tmp_path, folder, *folder.iterdir()):
        path.chmod(0o755)  # pgbouncer refuses to run as root: it reads these as nobody
    as_nobody = ["-u", "nobody"] if os.geteuid() == 0 else []
    process = subprocess.Popen([binary, *as_nobody, str(folder / "pgbouncer.ini")], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield server.set(port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(10)


def test_two_workers_through_a_transaction_pooling_pgbouncer(
    store: Store, settings: Settings, pgbouncer: str, tmp_path: Path
) -> None:
    """CDP_DATABASE_POOLER=true: three processes' connections share two server connections, transaction by
    transaction (the advisory locks the code takes are all transaction-scoped, and it prepares no statement)."""
    customers, path = _race_file(store, tmp_path)
    pooled = Store.open(settings.model_copy(update={"database_url": pgbouncer, "database_pooler": True}))
    try:
        report = import_file(pooled, path, access=OPERATOR, workers=2, batch_size=4)
        assert (report.stored, report.duplicates, report.rejected) == (4 * CUSTOMERS, CUSTOMERS, [])
        _assert_one_customer_each(pooled, customers)
    finally:
        pooled.close()


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


def test_each_processs_pools_follow_the_pool_size_setting(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite files need no connection pool sizing")
    store = Store.open(settings.model_copy(update={"database_pool_size": 3}))
    try:
        pool = store.engine.pool  # (the test key store is a SQLite file)
        assert (pool.size(), pool._max_overflow) == (3, 3)  # type: ignore[attr-defined]
    finally:
        store.close()
