"""Erasure and access-export of a profile with many events.

    python bench/erasure.py [--events 10000] [--runs 10] [--postgres postgresql+psycopg://...]

Each run builds one customer with `--events` events (80% page views, 10% tickets, 10% orders: the orders
fall under the tax-law legal hold, so erasure re-encrypts them under the hold key) and one with 10 events
(the baseline), then times the access export (decrypt everything, zip it) and the erasure. "key shred" is the
crypto-shredding step alone (KeyStore.shred): after it nothing of the subject can be decrypted anywhere;
the rest of an erasure is moving held rows and deleting rows. Goals: key shred < 50 ms whatever the event
count; export < 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session  # noqa: E402

from bench._setup import bench_store  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.dsr import service  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402
from cdp.store import Store  # noqa: E402

OFFICER = AccessContext.operator("data_subject_rights")
WRITER = AccessContext.operator("order_fulfillment")


def customer(store: Store, tag: str, events: int) -> str:
    ids = {"email": f"bench-{tag}@example.com"}
    batch, profile_id = [], ""
    for n in range(events):
        kind = "order" if n % 10 == 0 else "ticket" if n % 10 == 1 else "page_view"
        props = {"url": f"/p/{n}", "text": f"question {n} about my parcel"}
        if kind == "order":
            props = {"order_id": f"{tag}-{n}", "total": "49.90", "currency": "EUR", "items": [{"sku": "A1"}]}
        batch.append({"source": "bench", "source_event_id": f"{tag}-{n}", "type": kind, "country": "DE",
                      "occurred_at": "2026-03-01T10:00:00+00:00", "identifiers": ids, "properties": props,
                      "traits": {"first_name": "Bench"} if n == 0 else {}})  # fmt: skip
        if len(batch) == 1000 or n == events - 1:
            outcomes = store.run(lambda s, batch=batch: ingest(s, store, WRITER, batch))
            profile_id = profile_id or outcomes[0].profile_id
            batch = []
    return profile_id


def timed(store: Store, profile_id: str, shred_times: list[float]) -> tuple[float, float]:
    """(export seconds, erasure seconds) of one customer; the key-shred step is appended to shred_times."""
    original = store.keystore.shred

    def shred(profile_ids: list[str]) -> int:
        start = time.perf_counter()
        try:
            return original(profile_ids)
        finally:
            shred_times.append(time.perf_counter() - start)

    access = _verified(store, "access", profile_id)
    start = time.perf_counter()
    _execute(store, access)
    export = time.perf_counter() - start
    erasure = _verified(store, "erasure", profile_id)
    store.keystore.shred = shred  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        _execute(store, erasure)
        return export, time.perf_counter() - start
    finally:
        store.keystore.shred = original  # type: ignore[method-assign]


def _verified(store: Store, kind: str, profile_id: str) -> str:
    def work(session: Session) -> str:
        request = service.create_request(session, store, OFFICER, kind=kind, profile_id=profile_id, source="cli")
        return service.mark_verified(session, OFFICER, request.id, "bench").id

    return store.run(work)


def _execute(store: Store, request_id: str) -> None:
    """As a door runs it: each step its own transaction (an erasure takes two)."""
    store.run_until(lambda s: service.execute(s, store, OFFICER, request_id), finished=lambda o: o.finished)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def report(label: str, values: list[float]) -> None:
    print(f"  {label:<22} p50 {statistics.median(values) * 1000:8.1f} ms   p95 {p95(values) * 1000:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--postgres", default=None, help="server URL; default: SQLite in a temp dir")
    args = parser.parse_args()
    results: dict[int, dict[str, list[float]]] = {}
    with bench_store(args.postgres) as store:
        for size in (10, args.events):
            figures: dict[str, list[float]] = {"export": [], "erasure": [], "key shred": []}
            for run in range(args.runs):
                profile_id = customer(store, f"{size}-{run}", size)
                export, erasure = timed(store, profile_id, figures["key shred"])
                figures["export"].append(export)
                figures["erasure"].append(erasure)
            results[size] = figures
    backend = "PostgreSQL" if args.postgres else "SQLite"
    for size, figures in results.items():
        print(f"{backend}, profile with {size} events, {args.runs} runs:")
        for label, values in figures.items():
            report(label, values)
    big, small = results[args.events], results[10]
    print(f"key shred p95 ratio {args.events} events / 10 events: {p95(big['key shred']) / p95(small['key shred']):.2f}"
          f"  (goal < 50 ms: {'met' if p95(big['key shred']) < 0.05 else 'MISSED'})")  # fmt: skip
    print(f"export p95 {p95(big['export']):.2f} s (goal < 2 s: {'met' if p95(big['export']) < 2 else 'MISSED'})")


if __name__ == "__main__":
    main()
