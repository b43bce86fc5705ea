"""Abandoned-cart reminders: from a cart becoming due to its signed delivery at a local test receiver.

    python bench/triggers.py [--pending 10000] [--carts 100] [--burst 300] [--repeats 3] [--postgres URL]

Set-up: `--pending` carts of distinct customers whose reminders are due tomorrow (they sit in the due-time
table while we measure, with their win-back jobs). Each run then
- latency: `--carts` carts whose 60-minute windows end `--spacing-ms` apart (a steady stream the worker keeps up
  with), starting a few seconds after the worker starts; latency = arrival at the receiver - the moment the
  cart became due (p50, p95);
- throughput: `--burst` carts all due at once; deliveries/s = burst / time until the last one arrived.
Baseline, in each run right after the burst: a plain loop of `--burst` POSTs of a signed delivery's size to
the same receiver (posts/s), i.e. the delivery minus everything around the POST (decision, consent, render,
signing, bookkeeping, audit); the ratio is deliveries/s divided by it. Figures are the median over
`--repeats` runs with their spread (min–max); the ratio is taken from the medians. `--workers` worker threads
(`cdp worker` code, polling every 50 ms; default one) on the machine's cores; customers are in a time zone
where it is midday (no quiet hours).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import bench_store  # noqa: E402
from bench._stats import Spread  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.activation.planner import SETTLE, plan  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402
from cdp.outbox import service as outbox  # noqa: E402
from cdp.store import Store  # noqa: E402
from cdp.worker.loop import run_forever  # noqa: E402

WRITER = AccessContext.operator("order_fulfillment")
WINDOW = timedelta(minutes=60)
_NOON_ZONE = f"Etc/GMT{-((12 - datetime.now(UTC).hour + 12) % 24 - 12):+d}"  # midday there, outside quiet hours


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}  # cart id -> arrival (epoch seconds)
        self.lock = threading.Lock()


def receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            cart = (body.get("cart") or {}).get("cart_id")
            if cart:
                with arrivals.lock:
                    arrivals.at.setdefault(cart, time.time())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def carts(store: Store, tag: str, due: list[datetime]) -> dict[str, datetime]:
    """Ingest one cart per due time (distinct customers); returns cart id -> due time."""
    events, wanted = [], {}
    for n, at in enumerate(due):
        cart_id = f"{tag}-{n}"
        wanted[cart_id] = at
        events.append(
            {
                "source": "bench",
                "source_event_id": cart_id,
                "type": "cart",
                "country": "US",
                "occurred_at": (at - WINDOW).isoformat(),
                "identifiers": {"email": f"{cart_id}@example.com"},
                "traits": {"timezone": _NOON_ZONE, "first_name": "Bench"},
                "properties": {
                    "cart_id": cart_id,
                    "total": "19.90",
                    "currency": "USD",
                    "items": [{"sku": "A1", "quantity": 1}],
                },
            }
        )
    for start in range(0, len(events), 500):
        store.run(lambda s, b=events[start : start + 500]: ingest(s, store, WRITER, b))
    return wanted


def plan_all(store: Store) -> None:
    time.sleep(SETTLE.total_seconds() + 0.1)
    while store.run(lambda s: plan(s, store, now=datetime.now(UTC))).events:
        pass


def measure(store: Store, arrivals: Arrivals, wanted: dict[str, datetime], timeout: float, workers: int) -> list[float]:
    """Run workers until every wanted cart arrived; latencies in seconds."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=run_forever, args=(store, stop), kwargs={"poll_seconds": 0.05}, daemon=True)
        for _ in range(workers)
    ]
    for thread in threads:
        thread.start()
    deadline = time.time() + timeout
    while time.time() < deadline:
        with arrivals.lock:
            if all(c in arrivals.at for c in wanted):
                break
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join(30)
    with arrivals.lock:
        missing = [c for c in wanted if c not in arrivals.at]
        if missing:
            raise SystemExit(f"{len(missing)} reminders did not arrive within {timeout} s")
        return [arrivals.at[c] - wanted[c].timestamp() for c in wanted]


def baseline(url: str, posts: int) -> float:
    body = json.dumps({"cart": {"cart_id": "baseline"}, "customer": {"email": "x" * 20}, "pad": "y" * 400}).encode()
    with httpx.Client() as client:
        start = time.perf_counter()
        for _ in range(posts):
            client.post(url, content=body, headers={"Content-Type": "application/json"})
        return posts / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--carts", type=int, default=100)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--spacing-ms", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--workers", type=int, default=1, help="worker threads (PostgreSQL: disjoint claims)")
    args = parser.parse_args()
    arrivals = Arrivals()
    server = receiver(arrivals)
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    with bench_store(args.postgres) as store:
        store.run(
            lambda s: outbox.register_destination(
                s,
                store,
                AccessContext.operator("marketing.email"),
                name="bench",
                url=url,
                secret="bench-secret-0123456789",
                purpose="marketing.email",
            )
        )
        t = time.perf_counter()
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        carts(store, "pending", [tomorrow] * args.pending)
        plan_all(store)
        print(
            f"{args.pending} pending carts ingested and planned in {time.perf_counter() - t:.1f} s "
            f"({store.engine.dialect.name}, {args.workers} worker(s)); customers' zone {_NOON_ZONE}"
        )
        p50s, p95s, rates, bases = [], [], [], []
        for run in range(args.repeats):
            lead = timedelta(seconds=SETTLE.total_seconds() + 3 + args.carts * 0.01)
            first_due = datetime.now(UTC) + lead
            wanted = carts(
                store, f"lat{run}", [first_due + timedelta(milliseconds=args.spacing_ms * n) for n in range(args.carts)]
            )
            plan_all(store)
            latencies = sorted(measure(store, arrivals, wanted, timeout=300, workers=args.workers))
            p50s.append(statistics.median(latencies))
            p95s.append(Spread(tuple(latencies)).quantile(0.95))
            wanted = carts(store, f"burst{run}", [datetime.now(UTC)] * args.burst)
            plan_all(store)
            start = time.time()
            measure(store, arrivals, wanted, timeout=600, workers=args.workers)
            with arrivals.lock:
                last = max(arrivals.at[c] for c in wanted)
            rates.append(args.burst / (last - start))
            bases.append(baseline(url, args.burst))
            print(
                f"run {run + 1}: p50 {p50s[-1] * 1000:.0f} ms, p95 {p95s[-1] * 1000:.0f} ms, "
                f"{rates[-1]:.0f} deliveries/s, baseline {bases[-1]:.0f} posts/s"
            )
    server.shutdown()
    rate, base = Spread(tuple(rates)), Spread(tuple(bases))
    print(f"median (min–max, n) of {args.repeats} runs, {args.pending} pending carts:")
    print(f"  latency p50 {Spread(tuple(p50s)).show(1000, 0)} ms, p95 {Spread(tuple(p95s)).show(1000, 0)} ms"
          " (goal: well under 5 min)")  # fmt: skip
    print(f"  {rate.show(digits=1)} deliveries/s vs {base.show(digits=0)} plain POSTs/s (baseline)")
    print(f"  ratio deliveries/s / POSTs/s (medians): {rate.median / base.median:.3f}")


if __name__ == "__main__":
    main()
