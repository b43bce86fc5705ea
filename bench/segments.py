"""Computed traits, segment evaluation and a consented audience export at scale.

    python bench/segments.py [--customers 20000] [--repeats 3] [--postgres postgresql+psycopg://...]
    python bench/segments.py --customers 100000   # the size docs/marketing.md quotes (~10 min on 2 busy cores)
    python bench/segments.py --million            # 1,000,000 customers (slow: minutes per step)

Generates the customers straight into the tables (each with its own data key, an encrypted email and
language/country traits, 1-5 orders over two years, and consent so that exactly `--customers` of them may be
reached for marketing.email; 10% more are EU customers who never consented), then, in `--repeats` rounds
that each run a step and its baseline in turn (so load on the machine hits both alike), times:

* traits: `compute_all` (read every order, fit BG/NBD + Gamma-Gamma, score, encrypt, write one row each);
* evaluation: a segment over scores, jurisdiction and consent, evaluated from empty membership, and again
  with nothing changed;
* export: every reachable member (consent filtered in the query) with email decrypted;
* refresh: `refresh_for` of 500 customers (what one ingest batch adds).

Each baseline is the same work minus the thing measured: plain SELECTs, in one session, of the rows the
step fetches, with nothing joined for consent, decrypted, computed or written. For traits and refresh: the
profiles, orders, last activity and profile traits they read; for the export: the open memberships with
their computed-trait row and email identity; for evaluation, which matches in SQL and fetches only ids: the
ids of the live customers it starts from and the open memberships. Printed: medians with their spread
(min–max over the rounds) and the ratio of the medians. (Earlier versions scanned other rows than the steps
read: for compute_all the orders but not profiles, activity or the profile traits; for evaluation every
computed-trait row with two scores; for the export one score and the email but not the computed row.)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.progress import Progress  # noqa: E402
from sqlalchemy import Select, func, insert, select  # noqa: E402

from bench._rounds import interleaved  # noqa: E402
from bench._setup import bench_store  # noqa: E402
from bench._stats import Spread  # noqa: E402
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
from cdp.traits.service import PROFILE_TRAITS, compute_all, refresh_for  # noqa: E402
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


def reads(store: Store, queries: Sequence[Select]) -> Callable[[], object]:
    """A baseline: the queries' rows fetched in one session, nothing else."""

    def run() -> object:
        with store.session() as s:
            return [s.execute(query).all() for query in queries]

    return run


def trait_inputs(ids: list[str] | None) -> list[Select]:
    """What `compute_all` (ids None) and `refresh_for` read: profiles, orders, last activity, profile traits."""
    queries = [
        select(Profile.id, Profile.merged_into, Profile.status),
        select(
            Event.profile_id,
            Event.occurred_at,
            Event.base_amount_minor,
            Event.currency,
            Event.source,
            Event.base_currency,
        ).where(Event.type == "order"),
        select(Event.profile_id, func.max(Event.occurred_at)).group_by(Event.profile_id),
        select(Trait.id, Trait.profile_id, Trait.name, Trait.value_ct, Trait.updated_at).where(
            Trait.name.in_(PROFILE_TRAITS)
        ),
    ]
    if ids is None:
        return queries
    owners = (Profile.id, Event.profile_id, Event.profile_id, Trait.profile_id)
    return [query.where(owner.in_(ids)) for query, owner in zip(queries, owners, strict=True)]


def report(name: str, seconds: Spread, base: Spread) -> None:
    print(f"{name:<46} {seconds.show(digits=3):>28} {base.show(digits=3):>28} {seconds.median / base.median:>7.1f}",
          flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000, help="customers marketing.email may reach")
    parser.add_argument("--million", action="store_true", help="1,000,000 customers")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    reachable = 1_000_000 if args.million else args.customers
    with bench_store(args.postgres) as store:
        start = time.perf_counter()
        ids = generate(store, reachable)
        print(
            f"generated {len(ids):,} customers in {time.perf_counter() - start:.1f} s "
            f"({'PostgreSQL' if args.postgres else 'SQLite'}); {args.repeats} interleaved rounds"
        )
        print(f"{'step':<46} {'median s (min–max, n)':>28} {'plain reads s':>28} {'ratio':>7}", flush=True)

        def compute() -> None:
            with store.session() as s:
                compute_all(s, store, ANALYTICS, as_of=AS_OF)
                s.commit()

        times = interleaved({"step": compute, "base": reads(store, trait_inputs(None))}, args.repeats)
        report("traits compute_all", times["step"], times["base"])

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

        # The matching runs in SQL and returns ids: the baseline reads the population it starts from (live
        # customers' ids) and the open memberships, without the conditions' joins or the membership writes.
        evaluation_inputs = [
            select(Profile.id).where(Profile.merged_into.is_(None), Profile.status == "active"),
            select(SegmentMembership.profile_id).where(
                SegmentMembership.segment_name == "high-value-eu", SegmentMembership.exited_at.is_(None)
            ),
        ]
        # Each round: the baseline, then from empty, then unchanged (membership as the previous run left it).
        times = interleaved(
            {"base": reads(store, evaluation_inputs), "empty": evaluate(True), "unchanged": evaluate(False)},
            args.repeats,
        )
        report("segment evaluation, from empty", times["empty"], times["base"])
        report("segment evaluation, unchanged", times["unchanged"], times["base"])
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
        audience_rows = (
            select(
                SegmentMembership.profile_id,
                SegmentMembership.entered_at,
                Identity.id,
                Identity.value_ct,
                *ComputedTrait.__table__.columns,
            )
            .join(Identity, (Identity.profile_id == SegmentMembership.profile_id) & (Identity.kind == "email"))
            .outerjoin(ComputedTrait, ComputedTrait.profile_id == SegmentMembership.profile_id)
            .where(SegmentMembership.segment_name == "everyone", SegmentMembership.exited_at.is_(None))
        )
        times = interleaved({"step": export, "base": reads(store, [audience_rows])}, args.repeats)
        report(f"export of {count:,} of {members:,} members", times["step"], times["base"])

        sample = random.Random(1).sample(ids, 500)

        def refresh() -> None:
            with store.session() as s:
                refresh_for(s, store, sample, as_of=AS_OF)
                s.commit()

        times = interleaved({"step": refresh, "base": reads(store, trait_inputs(sample))}, args.repeats)
        report("refresh_for 500 customers (one ingest batch)", times["step"], times["base"])


if __name__ == "__main__":
    main()
