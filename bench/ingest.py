"""Ingest cost as the store grows: demo events imported through the one import door (`import_file`: JSONL read
line by line, batches of 500 through `ingest` — validation, normalization, blind indexes, identity resolution,
PII classification, encryption, idempotency, audit; the customers each batch touched queued for a computed-traits
refresh), timed per batch, and the import's end-of-run refresh of the queued customers timed on its own.

The baseline, in the same run, is the storage work alone: the same number of event rows of the same width
(blobs the size of the pipeline's ciphertexts, one profile row per new customer), inserted with multi-row
statements in transactions of the same size, into the same `event` table with the same indexes, also timed per
batch — so both curves show what the store's growth costs, and the ratio between them what the pipeline costs.

For each tenth of the run it prints the median CPU milliseconds per event of its batches (with the spread:
lowest and highest batch) and events/s by wall time; then the flatness (last tenth / first tenth, goal ≤ 1.25
i.e. no growth beyond noise) and, when the run passes 500,000 stored events, the steady-state rate from there on
(goal ≥ 3,000 events/s per core: 1,000 / CPU ms per event, single process), counting those batches' share of the
end-of-run refresh (its CPU time × their events / all events). CPU time is the benchmark process's
own: on SQLite that includes the database work, on PostgreSQL the server's share is not in it (see wall rate).

    python bench/ingest.py [--events 1000000] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import bench_store  # noqa: E402
from bench._stats import Spread  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.cli.importer import BATCH_SIZE, import_file  # noqa: E402
from cdp.db import table_of  # noqa: E402
from cdp.demo import generate_demo_events, write_jsonl  # noqa: E402
from cdp.events.models import Event  # noqa: E402
from cdp.identity.models import Profile  # noqa: E402
from cdp.ids import new_id, utcnow  # noqa: E402
from cdp.pii import analyze  # noqa: E402
from cdp.store import Store  # noqa: E402

STEADY_FROM = 500_000
CIPHERTEXT_BYTES = 260  # about the pipeline's properties_ct per demo event (nonce + tag + JSON)


class BatchClock:
    """CPU and wall seconds of each batch, and the events each one carried."""

    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.wall: list[float] = []
        self.sizes: list[int] = []
        self.tail_cpu = self.tail_wall = 0.0  # after the last batch: the import's queued computed-traits refresh
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def tick(self, events: int) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        self.cpu.append(cpu - self._cpu)
        self.wall.append(wall - self._wall)
        self.sizes.append(events)
        self._cpu, self._wall = cpu, wall

    def finish(self) -> None:
        self.tail_cpu, self.tail_wall = time.process_time() - self._cpu, time.perf_counter() - self._wall

    def rate(self) -> float:
        """Events/s by wall time over the whole run, the work after the last batch included."""
        return sum(self.sizes) / (sum(self.wall) + self.tail_wall)

    def tenths(self) -> list[tuple[int, Spread, float]]:
        """Per tenth of the run: events stored by its end, CPU ms per event of its batches, wall events/s."""
        n, result, done = len(self.sizes), [], 0
        for part in range(10):
            lo, hi = n * part // 10, n * (part + 1) // 10
            if lo == hi:
                continue
            done += sum(self.sizes[lo:hi])
            batches = zip(self.cpu[lo:hi], self.sizes[lo:hi], strict=True)
            # the last, partial batch of a run is left out of the medians: its fixed costs spread over few events
            per_event = tuple(1000 * c / s for c, s in batches if s >= BATCH_SIZE // 2)
            result.append((done, Spread(per_event), sum(self.sizes[lo:hi]) / sum(self.wall[lo:hi])))
        return result

    def steady_rate(self) -> tuple[float, float] | None:
        """Events/s per core (from CPU) and by wall time over the batches after STEADY_FROM stored events, with
        their share of the work after the last batch."""
        done, cpu, wall, count = 0, 0.0, 0.0, 0
        for c, w, s in zip(self.cpu, self.wall, self.sizes, strict=True):
            done += s
            if done > STEADY_FROM:
                cpu, wall, count = cpu + c, wall + w, count + s
        if not count:
            return None
        share = count / sum(self.sizes)
        return count / (cpu + share * self.tail_cpu), count / (wall + share * self.tail_wall)


def run_pipeline(store: Store, path: Path) -> BatchClock:
    clock = BatchClock()
    import_file(store, path, access=AccessContext.operator("order_fulfillment"), on_progress=clock.tick)
    clock.finish()
    return clock


def run_baseline(store: Store, total: int, people: int) -> BatchClock:
    """The storage work alone: profile and event rows of the same count and width, same batch size."""
    event_table, profile_table = table_of(Event), table_of(Profile)
    blob = os.urandom(CIPHERTEXT_BYTES)
    profiles: list[str] = []
    clock = BatchClock()
    for start in range(0, total, BATCH_SIZE):
        size = min(BATCH_SIZE, total - start)
        new = [new_id() for _ in range(round(size * people / total))]
        now = utcnow()
        with store.transaction() as session:
            conn = session.connection()
            if new:
                conn.execute(insert(profile_table), [{"id": p, "created_at": now, "jurisdiction": "EU"} for p in new])
            profiles += new
            rows = [
                {"id": new_id(), "profile_id": profiles[(start + i) * 7919 % len(profiles)], "source": "bench",
                 "source_event_id": str(start + i), "type": "order", "occurred_at": now, "received_at": now,
                 "utc_offset_minutes": 0, "properties_ct": blob}
                for i in range(size)
            ]  # fmt: skip
            conn.execute(insert(event_table), rows)
        clock.tick(size)
    return clock


def report(name: str, clock: BatchClock, baseline: BatchClock) -> None:
    print(f"\n{name}: {sum(clock.sizes):,} events in {len(clock.sizes)} batches of {BATCH_SIZE}")
    print(f"{'stored by':>10}  {'pipeline CPU ms/event: median (min–max)':42} {'events/s':>9}   "
          f"{'baseline ms/event':>18} {'rows/s':>9}  ratio")  # fmt: skip
    rows = list(zip(clock.tenths(), baseline.tenths(), strict=True))
    for (done, cost, rate), (_, base_cost, base_rate) in rows:
        print(
            f"{done:10,}  {cost.show(digits=3):42} {rate:9,.0f}   {base_cost.median:18.3f} {base_rate:9,.0f}"
            f"  {cost.median / base_cost.median:5.1f}x"
        )
    first, last = rows[0][0][1].median, rows[-1][0][1].median
    print(f"flatness, last tenth / first tenth (CPU per event): {last / first:.2f}  (goal <= 1.25)")
    base_first, base_last = rows[0][1][1].median, rows[-1][1][1].median
    print(f"baseline flatness: {base_last / base_first:.2f}")
    total, whole_cpu = sum(clock.sizes), sum(clock.cpu) + clock.tail_cpu
    print(f"after the last batch (the queued computed-traits refresh, once per customer): {clock.tail_cpu:.1f} s CPU, "
          f"{1000 * clock.tail_cpu / total:.3f} ms per event of the run; whole run "
          f"{total / whole_cpu:,.0f} events/s per core, {clock.rate():,.0f} events/s wall")  # fmt: skip
    steady = clock.steady_rate()
    if steady:
        per_core, wall = steady
        print(f"steady state after {STEADY_FROM:,} stored: {per_core:,.0f} events/s per core (goal >= 3,000), "
              f"{wall:,.0f} events/s wall")  # fmt: skip


def measure(postgres: str | None, path: Path, total: int, people: int) -> tuple[BatchClock, BatchClock]:
    def fresh(work: Callable[[Store], BatchClock]) -> BatchClock:
        with bench_store(postgres) as store:
            gc.collect()
            return work(store)

    pipeline = fresh(lambda store: run_pipeline(store, path))
    baseline = fresh(lambda store: run_baseline(store, total, people))
    return pipeline, baseline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000, help="at least this many (whole demo people)")
    parser.add_argument("--postgres", default=None, help="also run on this PostgreSQL server (URL)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dataset = generate_demo_events(args.events)
        path = Path(tmp) / "events.jsonl"
        write_jsonl(dataset, path)
        total, people = len(dataset.events), len(dataset.people)
        del dataset
        analyze("warm-up")  # builds the PII analyzer once per process (~0.6 s); steady state is measured
        results = {"sqlite": measure(None, path, total, people)}
        if args.postgres:
            results["postgresql"] = measure(args.postgres, path, total, people)
    for name, (pipeline, baseline) in results.items():
        report(name, pipeline, baseline)
    if "postgresql" in results:
        sqlite_rate, pg_rate = results["sqlite"][0].rate(), results["postgresql"][0].rate()
        print(f"\nPostgreSQL / SQLite, events/s by wall time over the run: {pg_rate / sqlite_rate:.2f}  (goal >= 0.8)")


if __name__ == "__main__":
    main()
