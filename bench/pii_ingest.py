"""What PII classification at ingest costs: the same demo events through the full pipeline with classification
off (`TraitClassifier(detect=False)`, the baseline) and on (undeclared traits and free text analyzed, redacted
copies, discovered fields). Goal: on/off throughput ratio >= 0.70.

    python bench/pii_ingest.py [--events 10000] [--batch 500] [--repeats 5] [--postgres postgresql+psycopg://...]

After a one-batch warm-up of each side, each round ingests the events once with classification off and
once on, each into a fresh store (created outside the timing), so load on the machine hits both sides
alike; the figures are the median and spread of `--repeats` rounds and the ratio is taken from the medians.
The baseline is the same work minus the thing measured: same events, batches, store and pipeline, only the
classifier's detection switched off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import bench_store  # noqa: E402
from bench._stats import Spread, rates, timed  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.demo import generate_demo_events  # noqa: E402
from cdp.events.schema import FREE_TEXT  # noqa: E402
from cdp.ingest.classify import TraitClassifier  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402
from cdp.pii import analyze  # noqa: E402

ACCESS = AccessContext.operator("order_fulfillment")


def ingest_once(events: list[dict], batch: int, classifier: TraitClassifier, postgres: str | None) -> float:
    """Seconds to ingest `events` in batches into a fresh store (its creation is not timed)."""
    with bench_store(postgres) as store:

        def run() -> None:
            for i in range(0, len(events), batch):
                chunk = events[i : i + batch]
                store.run(lambda s, chunk=chunk: ingest(s, store, ACCESS, chunk, classifier=classifier))

        return timed(run, 1).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres", default=None, help="server URL; default: SQLite in a temp dir")
    args = parser.parse_args()
    events = generate_demo_events(args.events).events[: args.events]
    analyze("warm-up: build the analyzer once, a@example.com")  # a one-off per process, not a per-event cost
    sides = {"off": TraitClassifier.default(detect=False), "on": TraitClassifier.default()}
    for classifier in sides.values():  # warm-up: first-use costs (imports, lazy set-up) are not per event
        ingest_once(events[: args.batch], args.batch, classifier, args.postgres)
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, classifier in sides.items():
            seconds[name].append(ingest_once(events, args.batch, classifier, args.postgres))
    off, on = (rates(len(events), seconds[name]) for name in sides)
    free_text = sum(e["type"] in FREE_TEXT for e in events)
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"backend: {backend}, events: {len(events)} ({free_text} with free text), batch: {args.batch}")
    print("events/s, median (min–max, n rounds):")
    print(f"classification off (baseline): {off.show(digits=0)}  [{Spread(tuple(seconds['off'])).show()} s]")
    print(f"classification on:             {on.show(digits=0)}  [{Spread(tuple(seconds['on'])).show()} s]")
    per_round = Spread(tuple(o / n for o, n in zip(seconds["off"], seconds["on"], strict=True)))
    print(f"ratio on/off throughput (medians): {on.median / off.median:.3f}  (goal >= 0.70);"
          f" per round: {per_round.show(digits=3)}")  # fmt: skip


if __name__ == "__main__":
    main()
