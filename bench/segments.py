"""Computed traits, segment evaluation and a consented audience export at scale.

    python bench/segments.py [--customers 100000] [--runs 3] [--postgres postgresql+psycopg://...]
    python bench/segments.py --million        # 1,000,000 customers (slow: minutes per step)

Generates the customers straight into the tables (each with its own data key, an encrypted email and
language/country traits, 1-5 orders over two years, and consent so that exactly `--customers` of them may be
reached for marketing.email; 10% more are EU customers who never consented), then times, median of `--runs`:

* traits: `compute_all` (read every order, fit BG/NBD + Gamma-Gamma, score, encrypt, write one row each)
  against a plain SQL scan of the same order and trait rows;
* evaluation: a segment over scores, jurisdiction and consent, evaluated from empty membership, and again
  with nothing changed, against a plain scan of the computed-trait rows;
* export: every reachable member (consent filtered in the query) with email decrypted, against a plain scan
  of the same membership and identity rows;
* refresh: `refresh_for` of 500 customers (what one ingest batch adds) against the same scan of their rows.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.progress import Progress  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from bench._setup import bench_store  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.events.models import Event  # noqa: E402
from cdp.identity.models import Identity, Profile  # noqa: E402
from cdp.ids import new_id  # noqa: E402
from cdp.profiles.models import Trait  # noqa: E402
from cdp.segments import audience, service  # noqa: E402
from cdp.segments.language import parse  # noqa: E402
from cdp.segments.models import SegmentMembership  # noqa: E402
from cdp.store import Store  # noqa: E402
from cdp.traits.models import ComputedTrait  # noqa: E402
from cdp.traits.service import compute_all, refresh_for  # noqa: E402
from consent.models import ConsentRecord  # noqa: E402

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
OPERATOR = AccessContext.operator("marketing.email")
ANALYTICS = AccessContext.operator("analytics")
HIGH_VALUE = {
    "name": "high-value-eu",
    "where": {
        "all": [
            {"field": "m_score", "op": "gte", "value": 4},
            {"field": "jurisdiction", "op": "eq", "value": "EU"},
            {"consent": "marketing.email"},
        ]
    },
}
EVERYONE = {"name": "everyone", "where": {"field": "order_count", "op": "gte", "value": 1}}
CHUNK = 5_000


def generate(store: Store, reachable: int) -> list[str]:
    """`reachable` customers marketing.email may reach (60% US silent, 30% EU and 10% CN granted) plus 10% EU
    customers never asked. Returns the profile ids."""
    rng = random.Random(7)
    total = reachable + reachable // 10
    ids: list[str] = []
    keystore, indexer = store.keystore, store.indexer
    with Progress(transient=True) as bar:
        task = bar.add_task("generating", total=total)
        for start in range(0, total, CHUNK):
            profiles, identities, traits, events, consents = [], [], [], [], []
            for n in range(start, min(start + CHUNK, total)):
                pid = new_id()
                ids.append(pid)
                keystore.new_data_key(pid)
                share = n / reachable if n < reachable else None
                jurisdiction = "EU" if share is None or 0.6 <= share < 0.9 else "US" if share < 0.6 else "CN"
                profiles.append(
                    {
                        "id": pid,
                        "created_at": AS_OF - timedelta(days=800),
                        "jurisdiction": jurisdiction,
                        "status": "active",
                        "merged_into": None,
                    }
                )
                email = f"customer{n}@example.com"
                iid = new_id()
                identities.append(
                    {
                        "id": iid,
                        "profile_id": pid,
                        "kind": "email",
                        "source": "bench",
                        "blind_index": indexer.index("email", email),
                        "created_at": AS_OF,
                        "value_ct": keystore.encrypt(pid, "identity", "value", iid, email),
                    }
                )
                for name, value in (("language", rng.choice(["de", "en", "fr", "ja", "zh"])), ("country", "DE")):
                    tid = new_id()
                    traits.append(
                        {
                            "id": tid,
                            "profile_id": pid,
                            "name": name,
                            "category": "bench",
                            "source": "bench",
                            "updated_at": AS_OF,
                            "value_ct": keystore.encrypt(pid, "trait", "value", tid, json.dumps(value)),
                        }
                    )
                for k in range(rng.choice([1, 1, 1, 2, 2, 3, 5])):
                    eid = new_id()
                    at = AS_OF - timedelta(days=rng.uniform(1, 730))
                    amount = rng.randint(1_000, 20_000)
                    events.append(
                        {
                            "id": eid,
                            "profile_id": pid,
                            "source": "bench",
                            "source_event_id": f"{n}-{k}",
                            "type": "order",
                            "occurred_at": at,
                            "received_at": at,
                            "utc_offset_minutes": 0,
                            "amount_minor": amount,
                            "currency": "USD",
                            "base_amount_minor": amount,
                            "base_currency": "USD",
                            "properties_ct": keystore.encrypt(pid, "event", "properties", eid, "{}"),
                        }
                    )
                if jurisdiction != "US" and share is not None:
                    consents.append(
                        {
                            "id": new_id(),
                            "profile_id": pid,
                            "purpose": "marketing.email",
                            "status": "granted",
                            "legal_basis": "consent",
                            "jurisdiction": jurisdiction,
                            "source": "import",
                            "recorded_at": AS_OF - timedelta(days=30),
                        }
                    )
                if jurisdiction == "CN" and share is not None:
                    consents.append({**consents[-1], "id": new_id(), "purpose": "cross_border_transfer"})
            keystore.flush()
            with store.session() as s:
                for table, rows in (
                    (Profile, profiles),
                    (Identity, identities),
                    (Trait, traits),
                    (Event, events),
                    (ConsentRecord, consents),
                ):
                    if rows:
                        s.execute(insert(table), rows)
                s.commit()
            bar.advance(task, len(profiles))
    return ids


def median_of(runs: int, step: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scan(store: Store, query: object) -> Callable[[], object]:
    def run() -> object:
        with store.session() as s:
            return s.execute(query).all()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="customers marketing.email may reach")
    parser.add_argument("--million", action="store_true", help="1,000,000 customers")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    reachable = 1_000_000 if args.million else args.customers
    with bench_store(args.postgres) as store:
        start = time.perf_counter()
        ids = generate(store, reachable)
        print(
            f"generated {len(ids):,} customers in {time.perf_counter() - start:.1f} s "
            f"({'PostgreSQL' if args.postgres else 'SQLite'})"
        )
        print(f"{'step':<48} {'median s':>10} {'plain scan s':>13} {'ratio':>8}", flush=True)

        def report(row: tuple[str, float, float]) -> None:
            name, seconds, base = row
            print(f"{name:<48} {seconds:>10.3f} {base:>13.3f} {seconds / base:>8.1f}", flush=True)

        def compute() -> None:
            with store.session() as s:
                compute_all(s, store, ANALYTICS, as_of=AS_OF)
                s.commit()

        order_rows = select(Event.profile_id, Event.occurred_at, Event.base_amount_minor, Event.currency).where(
            Event.type == "order"
        )
        trait_rows = select(Trait.id, Trait.profile_id, Trait.name, Trait.value_ct)
        report(
            (
                "traits compute_all",
                median_of(args.runs, compute),
                median_of(args.runs, lambda: (scan(store, order_rows)(), scan(store, trait_rows)())),
            )
        )

        with store.session() as s:
            for definition in (HIGH_VALUE, EVERYONE):
                service.create_segment(s, OPERATOR, parse(definition))
            s.commit()

        def evaluate(reset: bool) -> Callable[[], object]:
            def run() -> object:
                with store.session() as s:
                    if reset:
                        s.execute(SegmentMembership.__table__.delete())
                    result = service.evaluate_segment(s, OPERATOR, "high-value-eu", as_of=AS_OF)
                    s.commit()
                    return result

            return run

        plain = select(ComputedTrait.profile_id, ComputedTrait.m_score, ComputedTrait.lifecycle_stage)
        baseline = median_of(args.runs, scan(store, plain))
        report(("segment evaluation, from empty", median_of(args.runs, evaluate(True)), baseline))
        report(("segment evaluation, unchanged", median_of(args.runs, evaluate(False)), baseline))
        with store.session() as s:
            members = service.evaluate_segment(s, OPERATOR, "everyone", as_of=AS_OF).members
            s.commit()

        def export() -> int:
            with store.session() as s:
                done = audience.export_segment(
                    s,
                    store,
                    OPERATOR,
                    "everyone",
                    destination_country="DE",
                    fields=["email", "language", "r_score", "f_score", "m_score"],
                )
                s.commit()
            return len(done.members)

        count = export()
        membership = (
            select(SegmentMembership.profile_id, Identity.value_ct, ComputedTrait.r_score)
            .join(Identity, Identity.profile_id == SegmentMembership.profile_id)
            .join(ComputedTrait, ComputedTrait.profile_id == SegmentMembership.profile_id)
            .where(SegmentMembership.segment_name == "everyone", SegmentMembership.exited_at.is_(None))
        )
        report(
            (
                f"export of {count:,} of {members:,} members",
                median_of(args.runs, export),
                median_of(args.runs, scan(store, membership)),
            )
        )

        sample = random.Random(1).sample(ids, 500)

        def refresh() -> None:
            with store.session() as s:
                refresh_for(s, store, sample, as_of=AS_OF)
                s.commit()

        mine = select(Event.profile_id, Event.occurred_at, Event.base_amount_minor).where(Event.profile_id.in_(sample))
        report(
            (
                "refresh_for 500 customers (one ingest batch)",
                median_of(args.runs, refresh),
                median_of(args.runs, scan(store, mine)),
            )
        )


if __name__ == "__main__":
    main()
