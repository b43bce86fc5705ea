"""Erasure of a customer with many events, the whole of it, against the same on a customer with 10 events.

    python bench/erasure.py [--events 10000] [--runs 5] [--postgres postgresql+psycopg://...]

Each run builds a customer with `--events` events (80% page views, 10% tickets, 10% orders: the orders fall
under the tax-law legal hold) and one with 10 events (the baseline, same run), then times the erasure as a door
runs it, both committed steps: identifiers suppressed and held orders re-encrypted under the hold key, then the
data keys shredded and every other row deleted. That whole time grows with the events: it is the figure to
read. "key shred" is one step inside it, `KeyStore.shred` (one DELETE of the profiles' key rows, after which
nothing of the subject decrypts anywhere): constant by construction, shown for the goal it has (< 50 ms).
The access export has its own benchmark: bench/export.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._dsr import customer, execute, verified  # noqa: E402
from bench._setup import bench_store  # noqa: E402
from bench._stats import Spread  # noqa: E402
from cdp.store import Store  # noqa: E402


def erase(store: Store, profile_id: str) -> tuple[float, float]:
    """(whole erasure, key shred) in seconds, for one customer."""
    original = store.keystore.shred
    shred_seconds: list[float] = []

    def shred(profile_ids: list[str]) -> int:
        start = time.perf_counter()
        try:
            return original(profile_ids)
        finally:
            shred_seconds.append(time.perf_counter() - start)

    request_id = verified(store, "erasure", profile_id)
    store.keystore.shred = shred  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        execute(store, request_id)
        return time.perf_counter() - start, sum(shred_seconds)
    finally:
        store.keystore.shred = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=None, help="server URL; default: SQLite in a temp dir")
    args = parser.parse_args()
    sizes = (10, args.events)
    whole: dict[int, list[float]] = {size: [] for size in sizes}
    shred: dict[int, list[float]] = {size: [] for size in sizes}
    with bench_store(args.postgres) as store:
        for run in range(args.runs):
            for size in sizes:  # interleaved, so that load on the machine hits both sizes alike
                erasure, key_shred = erase(store, customer(store, f"{size}-{run}", size))
                whole[size].append(erasure)
                shred[size].append(key_shred)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{backend}, erasure, {args.runs} runs, median (min–max) in ms:")
    for size in sizes:
        print(f"  {size:>7,} events   whole erasure {Spread(tuple(whole[size])).show(1000, 1)}"
              f"   key shred {Spread(tuple(shred[size])).show(1000, 2)}")  # fmt: skip
    big, small = Spread(tuple(whole[args.events])), Spread(tuple(whole[10]))
    per_event = (big.median - small.median) / (args.events - 10)
    print(f"whole erasure of {args.events:,} events: {big.median:.2f} s, {big.median / small.median:.1f}× the 10-event "
          f"erasure ({per_event * 1e6:.0f} µs per extra event)")  # fmt: skip
    key_shred = Spread(tuple(shred[args.events])).median
    print(f"key shred at {args.events:,} events {key_shred * 1000:.2f} ms "
          f"(goal < 50 ms: {'met' if key_shred < 0.05 else 'MISSED'})")  # fmt: skip


if __name__ == "__main__":
    main()
