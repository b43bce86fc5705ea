"""Access export of a customer with 1,000, 10,000 and 50,000 events: time and memory, against a same-run
baseline.

    python bench/export.py [--sizes 1000 10000 50000] [--repeats 5] [--postgres postgresql+psycopg://...]

Each size is one customer (80% page views, 10% tickets, 10% orders) ingested through the ingest service.
Then, `--repeats` times each, interleaved:

* export: what every door runs — `service.execute` of a verified access request in its transaction (gate,
  reads, decryption, data.json, CSVs, zip, audit entry) — and reading the archive out, as a door hands it over;
* baseline: the same event rows read with one plain SELECT and their properties decrypted and parsed; nothing
  written.

Wall time and CPU time of this process: on a shared machine (the load average is printed) the wall time also
counts the time other processes held the CPUs, the CPU time does not. Then each once more under tracemalloc:
the peak of Python heap memory while it ran.

Goals (issue 15): the export of 50,000 events in < 2 s (median wall time); memory flat in the number of events
(the peak at the largest size at most 1.25× the peak at the size before it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402
from sqlmodel import col  # noqa: E402

from bench._dsr import customer, execute, verified  # noqa: E402
from bench._setup import bench_store  # noqa: E402
from bench._stats import Spread  # noqa: E402
from cdp.dsr.export import COMPRESS_LEVEL  # noqa: E402
from cdp.events.models import Event  # noqa: E402
from cdp.identity.groups import load_group  # noqa: E402
from cdp.store import Store  # noqa: E402

EXPORT_GOAL_EVENTS, EXPORT_GOAL_SECONDS = 50_000, 2.0
FLAT = 1.25


def export(store: Store, profile_id: str) -> Callable[[], int]:
    """One export, ready to run (its request created and verified beforehand); the run returns the archive size."""
    request_id = verified(store, "access", profile_id)

    def run() -> int:
        outcome = execute(store, request_id)
        assert outcome.archive is not None
        size = 0
        with outcome.archive as archive:
            while chunk := archive.read(1 << 16):
                size += len(chunk)
        return size

    return run


def baseline(store: Store, profile_id: str) -> Callable[[], int]:
    """The export's event rows, read and decrypted, nothing else; the run returns how many rows."""

    def run() -> int:
        with store.session() as session:
            members = load_group(session, profile_id).member_ids
            rows = session.execute(
                select(col(Event.id), col(Event.profile_id), col(Event.source), col(Event.source_event_id),
                       col(Event.type), col(Event.occurred_at), col(Event.utc_offset_minutes),
                       col(Event.amount_minor), col(Event.currency), col(Event.properties_ct))
                .where(col(Event.profile_id).in_(members))
                .order_by(col(Event.occurred_at), col(Event.id))
            )  # fmt: skip
            count = 0
            for r in rows:
                json.loads(store.keystore.decrypt(r.profile_id, "event", "properties", r.id, r.properties_ct))
                count += 1
        return count

    return run


def deflate_levels(store: Store, profile_id: str) -> str:
    """What the archive's compression level trades: its members deflated at zlib's default level and at the
    export's (as zip deflates them: raw, 64 KiB at a time), the size and the CPU time of each."""
    outcome = execute(store, verified(store, "access", profile_id))
    assert outcome.archive is not None
    with outcome.archive as file, zipfile.ZipFile(file) as archive:
        members = [archive.read(name) for name in archive.namelist()]
    shown = []
    for level in (zlib.Z_DEFAULT_COMPRESSION, COMPRESS_LEVEL):
        cpu, size = time.process_time(), 0
        for member in members:
            deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
            size += sum(len(deflate.compress(member[at : at + (1 << 16)])) for at in range(0, len(member), 1 << 16))
            size += len(deflate.flush())
        name = "6 (zlib's default)" if level == zlib.Z_DEFAULT_COMPRESSION else str(level)
        shown.append(f"level {name}: {size / 1e6:.2f} MB in {time.process_time() - cpu:.2f} s CPU")
    return ", ".join(shown)


def clocked(run: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, result) of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def peak_bytes(run: Callable[[], int]) -> int:
    """The highest Python heap use above where it was before, while `run` ran."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres", default=None, help="server URL; default: SQLite in a temp dir")
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    medians: dict[int, float] = {}
    cpu_medians: dict[int, float] = {}
    peaks: dict[int, int] = {}
    with bench_store(args.postgres) as store:
        for size in sizes:
            profile_id = customer(store, f"export-{size}", size)
            figures: dict[str, list[float]] = {"export": [], "export cpu": [], "baseline": [], "baseline cpu": []}
            archive_bytes = 0
            for _ in range(args.repeats):
                wall, cpu, rows = clocked(baseline(store, profile_id))
                assert rows == size
                figures["baseline"].append(wall)
                figures["baseline cpu"].append(cpu)
                wall, cpu, archive_bytes = clocked(export(store, profile_id))
                figures["export"].append(wall)
                figures["export cpu"].append(cpu)
            spreads = {label: Spread(tuple(values)) for label, values in figures.items()}
            medians[size] = spreads["export"].median
            cpu_medians[size] = spreads["export cpu"].median
            peaks[size] = peak_bytes(export(store, profile_id))
            base_peak = peak_bytes(baseline(store, profile_id))
            ratio = spreads["export"].median / spreads["baseline"].median
            print(f"{backend}, {size:,} events, archive {archive_bytes / 1e6:.2f} MB, median (min–max) of runs:")
            for label, spread in spreads.items():
                print(f"  {label:<13} {spread.show(1, 3)} s")
            cpu_ratio = spreads["export cpu"].median / spreads["baseline cpu"].median
            print(f"  export / baseline         {ratio:.1f}× wall, {cpu_ratio:.1f}× CPU   "
                  f"{size / spreads['export'].median:,.0f} events/s")  # fmt: skip
            print(f"  peak Python heap          export {peaks[size] / 1e6:.1f} MB, baseline {base_peak / 1e6:.1f} MB")
            print(f"  archive deflated at       {deflate_levels(store, profile_id)}")
    largest = sizes[-1]
    if largest >= EXPORT_GOAL_EVENTS:
        met = medians[largest] < EXPORT_GOAL_SECONDS
        print(f"goal: export of {largest:,} events < {EXPORT_GOAL_SECONDS:.0f} s: {'met' if met else 'MISSED'} "
              f"(median {medians[largest]:.2f} s wall, {cpu_medians[largest]:.2f} s CPU; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    if len(sizes) > 1:
        before = sizes[-2]
        flat = peaks[largest] <= FLAT * peaks[before]
        print(f"goal: memory flat: {'met' if flat else 'MISSED'} (peak {peaks[largest] / 1e6:.1f} MB at "
              f"{largest:,} events, {peaks[before] / 1e6:.1f} MB at {before:,})")  # fmt: skip


if __name__ == "__main__":
    main()
