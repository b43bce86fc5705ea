"""Paged reads and look-ups at scale, through the ASGI app in process (issue 15, "Paged reads"):

* `profiles(first: 100)` as admin for marketing.email (consent decided per customer: a ledger query per page),
  paging forward five pages from each of 20 cursors spread over the store;
* `events(first: 100)` of the customer with the most events, for support: five pages from the newest, then
  five from each of 20 cursors spread over its history;
* `profileByIdentifier(kind: email)` of a random customer, for support.

Over a store of --customers customers (bench/_bigstore.py builds it in minutes, bypassing the ingest pipeline;
--keep DIR keeps and reuses it), with one customer holding --events events. Baselines measured in the same
run, in the same interleaved rounds: the same requests on a small store (--small-customers customers, the
busy one with --small-events events), built the same way; the page's own list statement run alone on the big
store (the keyset SELECT of root profiles or of the customer's events: what the database cannot avoid); and
GET /healthz through the same app.

Per measurement: median, p95, min–max and the ratio of the medians to the small store's. Then the SQL
statements each request runs and, on the big store, the query plan of every one of them (EXPLAIN QUERY PLAN on
SQLite, EXPLAIN on PostgreSQL), flagging full scans and sorts of a whole table. The load average is printed
before and after the rounds.

  python bench/paged_reads.py [--customers 1000000] [--events 50000] [--rounds 200] [--keep DIR]
                              [--small-customers 2000] [--small-events 1000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, select, text
from sqlalchemy import event as sa_event
from sqlmodel import col
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._bigstore import BigStore, big_store, email  # noqa: E402
from bench._rounds import interleaved  # noqa: E402
from cdp.api.app import create_app  # noqa: E402
from cdp.api.types import encode_cursor  # noqa: E402
from cdp.auth.service import create_api_key  # noqa: E402
from cdp.events.models import Event  # noqa: E402
from cdp.identity.models import Profile  # noqa: E402
from cdp.metadata import metadata  # noqa: E402
from cdp.store import Store  # noqa: E402

PROFILES = """query($after: String) { profiles(first: 100, after: $after) {
  nodes { id firstName lastName email city } pageInfo { endCursor hasNextPage } } }"""
EVENTS = """query($id: ID!, $after: String) { profile(id: $id) { events(first: 100, after: $after) {
  nodes { id type occurredAt amount { amount currency } properties } pageInfo { endCursor hasNextPage } } } }"""
LOOKUP = "query($email: String!) { profileByIdentifier(kind: email, value: $email) { id firstName lastName email } }"
ROOTS_AFTER = text(
    "SELECT id, created_at, merged_into, jurisdiction, status FROM profile "
    "WHERE merged_into IS NULL AND id > :a ORDER BY id LIMIT 101"
)
NEWEST_EVENTS = text("SELECT * FROM event WHERE profile_id = :p ORDER BY occurred_at DESC, id DESC LIMIT 101")
PAGES_PER_START = 5
STARTS = 20
GOALS_MS = {"profiles(first: 100)": 30.0, "events(first: 100)": 20.0, "profileByIdentifier": 10.0}


class Reader:
    """The three requests against one store, each call one request; pages follow their own endCursor."""

    def __init__(self, store: Store, built: BigStore, seed: int) -> None:
        self.store, self.built = store, built
        self.client = TestClient(create_app(store))
        with store.transaction() as session:
            _, key = create_api_key(session, name="bench admin", role="admin")
        self.headers = {"Authorization": f"Bearer {key}"}
        self.rng = random.Random(seed)
        roots = select(col(Profile.id)).where(col(Profile.merged_into).is_(None)).order_by(col(Profile.id))
        self.root_ids = [row[0] for row in _spread(store, roots)]
        self.profile_starts = [encode_cursor(i) for i in self.root_ids]
        history = select(col(Event.occurred_at), col(Event.id)).where(col(Event.profile_id) == built.heavy_id)
        history = history.order_by(col(Event.occurred_at).desc(), col(Event.id).desc())
        self.event_starts = [None, *(encode_cursor(at.isoformat(), i) for at, i in _spread(store, history))]
        self._profiles = self._pager(PROFILES, "marketing.email", self.profile_starts, lambda d: d["profiles"], {})
        self._events = self._pager(
            EVENTS, "support", self.event_starts, lambda d: d["profile"]["events"], {"id": built.heavy_id}
        )

    def post(self, query: str, variables: dict[str, Any], purpose: str) -> dict[str, Any]:
        response = self.client.post("/graphql", json={"query": query, "variables": variables},
                                    headers={**self.headers, "X-CDP-Purpose": purpose})  # fmt: skip
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def _pager(
        self, query: str, purpose: str, starts: list[str | None], connection: Callable[[dict], dict], fixed: dict
    ) -> Iterator[None]:
        """Each next(): one page request, PAGES_PER_START pages from each start cursor in turn, round and round."""
        while True:
            for start in starts:
                after = start
                for _ in range(PAGES_PER_START):
                    page = connection(self.post(query, {**fixed, "after": after}, purpose))
                    assert len(page["nodes"]) == 100 or not page["pageInfo"]["hasNextPage"]
                    after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else start
                    yield None

    def profiles(self) -> None:
        next(self._profiles)

    def events(self) -> None:
        next(self._events)

    def lookup(self) -> None:
        found = self.post(LOOKUP, {"email": email(self.rng.randrange(self.built.customers))}, "support")
        assert found["profileByIdentifier"] is not None

    def healthz(self) -> None:
        assert self.client.get("/healthz").status_code == 200

    def plain_profiles(self) -> None:
        """The page's list statement alone: the next 101 root profiles after a cursor, no gate, no values."""
        after = self.rng.choice(self.root_ids)
        with self.store.engine.connect() as conn:
            rows = conn.execute(ROOTS_AFTER, {"a": after}).all()
            assert len(rows) == 101

    def plain_events(self) -> None:
        """The events page's keyset statement alone: the next 101 rows of the customer, nothing decrypted."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(NEWEST_EVENTS, {"p": self.built.heavy_id}).all()
            assert len(rows) == 101


def _spread(store: Store, query: Select) -> list[Any]:
    """STARTS rows spread evenly over the rows of `query` (read once, before any timing)."""
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    step = max(1, len(rows) // STARTS)
    return rows[step // 2 :: step][:STARTS]


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, *_args) -> None:  # noqa: ANN001 - SQLAlchemy's hook
        seen.append((statement, parameters))

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


# Marked in the plans: a full scan of a table, and a sort in a temporary B-tree (harmless when it sorts the rows
# a SEARCH found for one page; a defect when it sorts a whole table or every customer).
# Only tables count (with or without an index): SQLite also "scans" the few rows of a subquery (SCAN anon_1).
TABLES = "|".join(sorted(metadata.tables, key=len, reverse=True))
SCAN = re.compile(rf"\bSCAN ({TABLES})\b|Seq Scan on ({TABLES})")
SORT = re.compile(r"TEMP B-TREE|^\s*(->\s*)?(Incremental )?Sort\s+\(")  # not "Sort Key:" of a Merge Append


def explain(store: Store, seen: list[tuple[str, Any]]) -> None:
    """The plan of every statement of one request (writes included: their WHERE clauses are planned too)."""
    with store.engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                continue
            cursor = raw.cursor()
            cursor.execute(("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + statement, parameters)
            lines = [str(row[0]) if postgres else str(row[-1]) for row in cursor.fetchall()]
            cursor.close()
            marks = ("scan" if any(SCAN.search(line) for line in lines) else "") + (
                "sort" if any(SORT.search(line) for line in lines) else ""
            )
            print(f"  {marks or 'ok':8s} {' '.join(statement.split())[:150]}")
            for line in lines:
                print(f"       {line}")
        raw.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--small-customers", type=int, default=2_000)
    parser.add_argument("--small-events", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--keep", type=Path, default=None, help="build the big SQLite store here once; reuse it")
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--no-plans", action="store_true")
    args = parser.parse_args()
    with ExitStack() as stack:
        big, big_built = stack.enter_context(
            big_store(args.customers, args.events, keep=args.keep, postgres=args.postgres)
        )
        small, small_built = stack.enter_context(
            big_store(args.small_customers, args.small_events, postgres=args.postgres, log=lambda _: None)
        )
        large, baseline = Reader(big, big_built, 1), Reader(small, small_built, 2)
        n, m = f"{args.customers:,}", f"{args.small_customers:,}"
        runs: dict[str, Callable[[], None]] = {
            f"profiles(first: 100) at {n}": large.profiles,
            f"profiles(first: 100) at {m}": baseline.profiles,
            f"  its list SELECT alone at {n}": large.plain_profiles,
            f"events(first: 100) of {args.events:,}": large.events,
            f"events(first: 100) of {args.small_events:,}": baseline.events,
            f"  its keyset SELECT alone of {args.events:,}": large.plain_events,
            f"profileByIdentifier at {n}": large.lookup,
            f"profileByIdentifier at {m}": baseline.lookup,
            "GET /healthz": large.healthz,
        }
        interleaved(runs, 10)  # warm-up: caches, key authentication, the page cache of both stores
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        load_before = os.getloadavg()
        times = interleaved({name: _cpu_timed(run, cpu[name]) for name, run in runs.items()}, args.rounds)
        load_after = os.getloadavg()
        backend = "postgresql" if args.postgres else "sqlite"
        print(f"\nbackend {backend}; {args.rounds} interleaved rounds; load average (1, 5, 15 min) before "
              f"{_load(load_before)}, after {_load(load_after)}")  # fmt: skip
        print("ms per request: median  p95  (min–max)  median ratio to the small store;  CPU median (process time,")
        print("all threads: what the request cost, less sensitive than wall time to the machine's other load)")
        names = list(runs)
        for index, name in enumerate(names):
            spread = times[name]
            pair = {0: 1, 3: 4, 6: 7}.get(index)
            ratio = f"  x{spread.median / times[names[pair]].median:.2f}" if pair is not None else ""
            print(f"{name:42s} {spread.median * 1000:7.2f} {spread.quantile(0.95) * 1000:7.2f}"
                  f"  ({spread.low * 1000:.2f}–{spread.high * 1000:.2f}){ratio:8s}"
                  f"  CPU {statistics.median(cpu[name]) * 1000:6.2f}")  # fmt: skip
        print("goals (issue 15), p95 on the big store:")
        for goal, limit in GOALS_MS.items():
            p95 = next(times[name].quantile(0.95) for name in names if name.startswith(goal)) * 1000
            print(f"  {goal:22s} p95 {p95:6.2f} ms  goal < {limit:.0f} ms: {'met' if p95 < limit else 'NOT met'}")
        print("\nSQL statements per request, data database + key store: big store / small store")
        for label, call in (("profiles page", "profiles"), ("events page", "events"), ("look-up", "lookup")):
            counts = []
            for reader in (large, baseline):
                with statements(reader.store.engine) as data, statements(reader.store.keystore.engine) as keys:
                    getattr(reader, call)()
                counts.append(f"{len(data)} + {len(keys)}")
            print(f"  {label:14s} {counts[0]} / {counts[1]}")
        if not args.no_plans:
            for label, call in (("profiles page", "profiles"), ("events page", "events"), ("look-up", "lookup")):
                with statements(big.engine) as seen:
                    getattr(large, call)()
                print(f"\nquery plans of one {label} at {n} customers:")
                explain(big, seen)


def _cpu_timed(run: Callable[[], None], into: list[float]) -> Callable[[], None]:
    def timed() -> None:
        start = time.process_time()
        run()
        into.append(time.process_time() - start)

    return timed


def _load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.2f}" for v in load)


if __name__ == "__main__":
    main()
