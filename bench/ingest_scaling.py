"""Ingest throughput against the number of ingest workers on PostgreSQL: `cdp import --workers M` (`import_file`
with `workers=M`) of the same demo file into a fresh database, for each M (default 1, 2, 4). Every M is measured
--repeats times, the order of the M rotating from one round to the next so that drift in the machine's load
falls on all of them alike; printed: events/s median (min–max), and each median's ratio to the 1-worker median
of the same run (1 worker imports in the calling process; M > 1 spawns M processes).

Wall time covers the whole import, including starting the M processes (each imports cdp, opens its store and
builds its PII analyzer on its first batch); that fixed cost is measured on its own (a one-line file) and printed
beside. The key store is a second database on the same server, as processes on several hosts would share it
(--keystore sqlite: a file beside the benchmark, as on one host).

Every run must store the same events (checked); the number of customers after resolution is printed per M (the
order batches commit in may decide a merge differently only where the identity rules leave a choice).

    python bench/ingest_scaling.py [--events 20000] [--workers 1,2,4] [--repeats 3] [--batch 500]
                                   [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import col

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import bench_store  # noqa: E402
from bench._stats import Spread, rates  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.cli.importer import BATCH_SIZE, import_file  # noqa: E402
from cdp.demo import generate_demo_events, write_jsonl  # noqa: E402
from cdp.identity.models import Profile  # noqa: E402
from cdp.pii import analyze  # noqa: E402

ACCESS = AccessContext.operator("order_fulfillment")


def one_import(args: argparse.Namespace, path: Path, workers: int) -> tuple[float, int, int]:
    """Seconds to import the file into a fresh store with this many workers; events stored; customers."""
    with bench_store(args.postgres, keystore_on_postgres=args.keystore == "postgres") as store:
        gc.collect()
        start = time.perf_counter()
        report = import_file(store, path, access=ACCESS, workers=workers, batch_size=args.batch)
        seconds = time.perf_counter() - start
        with store.session() as s:
            roots = select(func.count()).select_from(Profile).where(col(Profile.merged_into).is_(None))
            customers = s.execute(roots).scalar_one()
    return seconds, report.stored, customers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000, help="at least this many (whole demo people)")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts; 1 is the baseline")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help="events per batch (one transaction)")
    parser.add_argument("--keystore", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CDP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    counts = sorted({int(w) for w in args.workers.split(",")} | {1})
    with tempfile.TemporaryDirectory() as tmp:
        dataset = generate_demo_events(args.events)
        path, tiny = Path(tmp) / "events.jsonl", Path(tmp) / "one.jsonl"
        write_jsonl(dataset, path)
        total = len(dataset.events)
        tiny.write_text(path.read_text(encoding="utf-8").split("\n", 1)[0] + "\n", encoding="utf-8")
        del dataset
        analyze("warm-up")  # the 1-worker import runs in this process: its analyzer is built beforehand
        seconds: dict[int, list[float]] = {m: [] for m in counts}
        startup: dict[int, list[float]] = {m: [] for m in counts}
        load: list[float] = []  # the machine's 1-minute load average after each run: other processes' share
        stored: dict[int, set[int]] = {m: set() for m in counts}
        customers: dict[int, set[int]] = {m: set() for m in counts}
        for round_ in range(args.repeats):
            for m in counts[round_ % len(counts) :] + counts[: round_ % len(counts)]:
                took, events, people = one_import(args, path, m)
                seconds[m].append(took)
                stored[m].add(events)
                customers[m].add(people)
                load.append(os.getloadavg()[0])
                startup[m].append(one_import(args, tiny, m)[0])
                print(f"round {round_ + 1}, {m} worker(s): {total / took:,.0f} events/s", file=sys.stderr)
    if len(set().union(*stored.values())) != 1:
        raise SystemExit(f"the runs stored different numbers of events: {stored}")
    print(f"{total:,} demo events, batches of {args.batch}, PostgreSQL, key store on {args.keystore}, "
          f"{os.cpu_count()} CPUs, {args.repeats} runs per worker count; load average after the runs "
          f"{Spread(tuple(load)).show(digits=1)}")  # fmt: skip
    print(f"{'workers':>7}  {'events/s: median (min–max, n)':34} {'vs 1 worker':>11}  {'start-up s':>10}  customers")
    base = rates(total, seconds[1]).median
    for m in counts:
        rate = rates(total, seconds[m])
        print(f"{m:7}  {rate.show(digits=0):34} {rate.median / base:10.2f}x  {Spread(tuple(startup[m])).median:10.2f}"
              f"  {sorted(customers[m])}")  # fmt: skip


if __name__ == "__main__":
    main()
