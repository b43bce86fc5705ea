"""Ingest throughput: demo events through the full pipeline (validation, normalization, blind indexes,
identity resolution, PII classification of free text and undeclared fields, encryption, idempotency, audit)
vs. inserting the same number of plain rows with the same engine, in the same run.

    python bench/ingest.py [--events 20000] [--batch 500] [--postgres postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import bench_store  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.demo import generate_demo_events  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402
from cdp.pii import analyze  # noqa: E402


def plain_rows(engine, count: int, batch: int) -> float:  # noqa: ANN001
    """Baseline: the same number of rows of similar width, multi-row INSERT, one transaction per batch."""
    table = Table(
        "bench_plain",
        MetaData(),
        Column("id", String(36), primary_key=True),
        Column("source", String(64)),
        Column("type", String(32)),
        Column("amount", Integer),
        Column("payload", Text),
    )
    table.create(engine)
    rows = [
        {"id": str(uuid.uuid4()), "source": "shopify", "type": "order", "amount": i, "payload": "x" * 200}
        for i in range(count)
    ]
    start = time.perf_counter()
    for i in range(0, count, batch):
        with engine.begin() as conn:
            conn.execute(insert(table), rows[i : i + batch])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--postgres", default=None, help="server URL; default: SQLite in a temp dir")
    args = parser.parse_args()
    events = generate_demo_events(args.events).events[: args.events]
    access = AccessContext.operator("order_fulfillment")
    with bench_store(args.postgres) as store:
        analyze("warm-up")  # builds the PII analyzer once per process (~0.6 s); steady state is measured
        start = time.perf_counter()
        stored = 0
        for i in range(0, len(events), args.batch):
            stored += sum(
                o.status == "stored"
                for o in store.run(lambda s, batch=events[i : i + args.batch]: ingest(s, store, access, batch))
            )
        pipeline = time.perf_counter() - start
        baseline = plain_rows(store.engine, len(events), args.batch)
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"backend: {backend}, events: {len(events)} ({stored} stored, rest re-sends), batch: {args.batch}")
    print(f"full pipeline : {len(events) / pipeline:10.0f} events/s  ({pipeline:.2f} s)")
    print(f"plain rows    : {len(events) / baseline:10.0f} rows/s    ({baseline:.2f} s)")
    print(f"ratio pipeline/plain throughput: {baseline / pipeline:.3f}  (time ratio {pipeline / baseline:.1f}x)")


if __name__ == "__main__":
    main()
