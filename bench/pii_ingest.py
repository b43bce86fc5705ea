"""What PII classification at ingest costs: the same demo events through the full pipeline with classification
off (`TraitClassifier(detect=False)`) and on (undeclared traits and free text analyzed, redacted copies,
discovered fields), each into a fresh store, in the same run. Goal: on/off throughput ratio >= 0.70.

    python bench/pii_ingest.py [--events 10000] [--batch 500] [--postgres postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import bench_store  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.demo import generate_demo_events  # noqa: E402
from cdp.events.schema import FREE_TEXT  # noqa: E402
from cdp.ingest.classify import TraitClassifier  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402
from cdp.pii import analyze  # noqa: E402


def run(events: list[dict], batch: int, classifier: TraitClassifier, postgres: str | None) -> float:
    access = AccessContext.operator("order_fulfillment")
    with bench_store(postgres) as store:
        start = time.perf_counter()
        for i in range(0, len(events), batch):
            store.run(lambda s, chunk=events[i : i + batch]: ingest(s, store, access, chunk, classifier=classifier))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--postgres", default=None, help="server URL; default: SQLite in a temp dir")
    args = parser.parse_args()
    events = generate_demo_events(args.events).events[: args.events]
    analyze("warm-up: build the analyzer once, a@example.com")  # a one-off per process, not a per-event cost
    off = run(events, args.batch, TraitClassifier.default(detect=False), args.postgres)
    on = run(events, args.batch, TraitClassifier.default(), args.postgres)
    free_text = sum(e["type"] in FREE_TEXT for e in events)
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"backend: {backend}, events: {len(events)} ({free_text} with free text), batch: {args.batch}")
    print(f"classification off: {len(events) / off:8.0f} events/s  ({off:.2f} s)")
    print(f"classification on : {len(events) / on:8.0f} events/s  ({on:.2f} s)")
    print(f"ratio on/off throughput: {off / on:.3f}  (goal >= 0.70)")


if __name__ == "__main__":
    main()
