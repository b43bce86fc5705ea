"""Events partitioned by month on PostgreSQL: the migration converts a table with rows in it, idempotency moves to
event_key, and maintenance keeps months ahead and gives rows that landed in the default partition their month."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from cdp.dates import add_months
from cdp.db import alembic_config, upgrade
from cdp.events.models import Event, EventKey
from cdp.events.partitions import DEFAULT_PARTITION, ensure_partitions, partition_months
from cdp.ids import utcnow
from cdp.settings import Settings
from cdp.store import Store
from cdp.worker.loop import run_forever
from tests import reads
from tests.conftest import TEST_MASTER_KEY
from tests.factories import event, ingest_all, order

PROFILE = "00000000-0000-4000-8000-0000000000a1"
OLD_ROWS = {  # id -> (source_event_id, type, occurred_at): written before the migration
    "00000000-0000-4000-8000-00000000e001": ("before-1", "order", datetime(2019, 3, 10, 8, 0, tzinfo=UTC)),
    "00000000-0000-4000-8000-00000000e002": ("before-2", "page_view", datetime(2019, 3, 31, 23, 59, tzinfo=UTC)),
    "00000000-0000-4000-8000-00000000e003": ("before-3", "page_view", datetime(2024, 7, 1, 0, 0, tzinfo=UTC)),
}


def _partition_of(store: Store, event_id: str) -> str:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT tableoid::regclass::text FROM event WHERE id = :id"), {"id": event_id}).one()[
            0
        ]


def _write_old_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO profile (id, created_at, jurisdiction, status) VALUES (:id, :t, 'EU', 'active')"),
            {"id": PROFILE, "t": datetime(2019, 3, 1, tzinfo=UTC)},
        )
        for event_id, (source_event_id, kind, at) in OLD_ROWS.items():
            conn.execute(
                text(
                    "INSERT INTO event (id, profile_id, source, source_event_id, type, occurred_at, "
                    "utc_offset_minutes, received_at, properties_ct) "
                    "VALUES (:id, :p, 'shopify', :sid, :type, :at, 0, :at, :ct)"
                ),
                {"id": event_id, "p": PROFILE, "sid": source_event_id, "type": kind, "at": at, "ct": b"\x01"},
            )
    engine.dispose()


@pytest.fixture
def store_before_0014(database_url: str, tmp_path) -> Iterator[Store]:
    """A database at 0013 (events unpartitioned, unique on the event table) holding OLD_ROWS, then upgraded."""
    upgrade(database_url, "0013")
    _write_old_rows(database_url)
    upgrade(database_url)
    settings = Settings(
        data_dir=tmp_path / "cdp-data",
        database_url=database_url,
        keystore_url=f"sqlite:///{tmp_path / 'keys.db'}",
        master_key=TEST_MASTER_KEY,
    )
    opened = Store.open(settings)
    yield opened
    opened.close()


def test_the_migration_keeps_every_event_and_its_idempotency_key(store_before_0014: Store) -> None:
    store = store_before_0014
    with store.session() as s:
        rows = {e.id: (e.source_event_id, e.type, e.occurred_at) for e in s.execute(select(Event)).scalars()}
        keys = {
            (k.source, k.source_event_id): (k.event_id, k.profile_id) for k in s.execute(select(EventKey)).scalars()
        }
    assert rows == OLD_ROWS
    assert keys == {("shopify", sid): (event_id, PROFILE) for event_id, (sid, _, _) in OLD_ROWS.items()}

    [resent] = ingest_all(store, event({"email": "old@example.com"}, source="shopify", source_event_id="before-1"))
    assert (resent.status, resent.event_id) == ("duplicate", "00000000-0000-4000-8000-00000000e001")
    [new] = ingest_all(store, order({"email": "new@example.com"}, occurred_at="2019-03-15T12:00:00+00:00"))
    assert new.status == "stored"
    with store.session() as s:
        assert len(reads.events(s, store, new.profile_id)) == 1

    if store.engine.dialect.name == "postgresql":
        this_month = utcnow().date().replace(day=1)
        with store.session() as s:
            months = partition_months(s)
        # every month the old rows fall in, and this month and the next three
        assert months == sorted({date(2019, 3, 1), date(2024, 7, 1), *(add_months(this_month, n) for n in range(4))})
        partitions = {event_id: _partition_of(store, event_id) for event_id in [*OLD_ROWS, new.event_id or ""]}
        assert list(partitions.values()) == ["event_2019_03", "event_2019_03", "event_2024_07", "event_2019_03"]


def test_the_downgrade_keeps_every_event(store_before_0014: Store) -> None:
    store = store_before_0014
    [new] = ingest_all(store, order({"email": "later@example.com"}, source_event_id="after-1"))
    url = store.engine.url.render_as_string(hide_password=False)
    store.close()
    command.downgrade(alembic_config(url), "0013")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            ids = set(conn.execute(text("SELECT id FROM event")).scalars())
            assert ids == {*OLD_ROWS, new.event_id}
            if engine.dialect.name == "postgresql":  # one table again
                assert conn.execute(text("SELECT count(*) FROM pg_inherits")).scalar_one() == 0
        with pytest.raises(IntegrityError), engine.begin() as conn:  # (source, source_event_id) unique again
            conn.execute(
                text(
                    "INSERT INTO event (id, profile_id, source, source_event_id, type, occurred_at, "
                    "utc_offset_minutes, received_at, properties_ct) "
                    "VALUES ('00000000-0000-4000-8000-00000000e009', :p, 'shopify', 'before-1', 'order', :at, 0, "
                    ":at, :ct)"
                ),
                {"p": PROFILE, "at": datetime(2020, 1, 1, tzinfo=UTC), "ct": b"\x01"},
            )
    finally:
        engine.dispose()


def test_maintenance_makes_months_ahead_and_moves_defaulted_rows_into_their_month(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("partitions are PostgreSQL's; SQLite keeps one event table")
    future = utcnow().year + 5  # months the migration did not make (it made this month and the next three)
    ids = {"email": "months@example.com"}
    outcomes = ingest_all(
        store,
        event(ids, type="page_view", occurred_at="2019-03-04T10:00:00+00:00"),
        order(ids, occurred_at="2019-03-30T10:00:00+00:00"),
        event(ids, type="page_view", occurred_at=f"{future}-07-31T23:00:00-02:00"),  # 1 August UTC
    )
    assert {_partition_of(store, o.event_id or "") for o in outcomes} == {DEFAULT_PARTITION}

    made = store.run(lambda s: ensure_partitions(s, date(future, 12, 20)))
    ahead = [date(future, 12, 1), date(future + 1, 1, 1), date(future + 1, 2, 1), date(future + 1, 3, 1)]
    assert made == [date(2019, 3, 1), date(future, 8, 1), *ahead]
    assert [_partition_of(store, o.event_id or "") for o in outcomes] == [
        "event_2019_03",
        "event_2019_03",
        f"event_{future}_08",
    ]
    with store.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {DEFAULT_PARTITION}")).scalar_one() == 0
    with store.session() as s:
        assert len(reads.events(s, store, outcomes[0].profile_id or "")) == 3  # read through the parent as before
    assert store.run(lambda s: ensure_partitions(s, date(future, 12, 20))) == []  # nothing left to do


def test_cdp_worker_makes_partitions_before_its_first_pass(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("partitions are PostgreSQL's; SQLite keeps one event table")
    [old] = ingest_all(store, event({"email": "worker@example.com"}, occurred_at="2019-06-01T10:00:00+00:00"))
    stop = threading.Event()
    run_forever(store, stop, poll_seconds=0.01, on_pass=lambda _: stop.set())
    assert _partition_of(store, old.event_id or "") == "event_2019_06"


def test_maintenance_does_nothing_on_sqlite(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    ingest_all(store, event({"email": "flat@example.com"}, occurred_at="2019-03-04T10:00:00+00:00"))
    assert store.run(lambda s: ensure_partitions(s, date(2026, 1, 1))) == []
    with store.session() as s:
        assert partition_months(s) == []
