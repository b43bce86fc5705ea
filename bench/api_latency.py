"""GraphQL latency through the ASGI app (in process) on the demo data (2,000 people), in one run:

* profileByIdentifier p50/p95 (issue: p95 under 10 ms), against GET /healthz through the same app;
* gate overhead: the same profile query for an allowed non-admin role (support_agent, purpose support:
  grants looked up per field, consent checked per subject) vs. the admin path;
* the audit checkpoint's spacing: admin with the default CDP_AUDIT_CHECKPOINT_SECONDS (1 s) vs. a checkpoint
  after every audited commit (0), same app, same store;
* the whole gate: admin vs. the same app and resolvers minus the gate — no field check and no audit entry (the
  schema extension removed) and an access context that allows every category and blocks no subject (no
  status or consent look-up), so the difference is exactly what the gate costs.

Each measurement runs --repeats times, interleaved; figures are the median (min–max) over the repeats of each
run's p50 / p95, and ratios are taken run by run. For the server under real HTTP load see bench/serve.py.

  python bench/api_latency.py [--requests 1000] [--repeats 5] [--people 2000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import Session
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import bench_store  # noqa: E402
from bench._stats import Spread  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.api import app as api  # noqa: E402
from cdp.auth.service import create_api_key  # noqa: E402
from cdp.demo import generate_demo  # noqa: E402
from cdp.identity.groups import ProfileGroup  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402
from cdp.store import Store  # noqa: E402

LOOKUP = """query Lookup($email: String!) {
  profileByIdentifier(kind: email, value: $email) { id firstName lastName email phone city }
}"""

Request = tuple[str, dict, dict]


def latencies(client: TestClient, requests: list[Request]) -> Spread:
    """Each request's latency in seconds."""
    samples = []
    for path, body, headers in requests:
        start = time.perf_counter()
        response = client.post(path, json=body, headers=headers) if body else client.get(path)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
        assert not body or response.json()["data"]["profileByIdentifier"], response.text
    return Spread(tuple(samples))


class _NoGate(api.AccessGateExtension):
    """No pre-execution field check, no audit entry, no redaction report."""

    def on_execute(self):  # noqa: ANN201 - the extension hook
        yield

    def get_results(self) -> dict:
        return {}


class _Ungated(AccessContext):
    """Every category allowed, no subject blocked (no status or consent look-up)."""

    def require(self, category: str, *, action: str = "read", field: str | None = None) -> None:
        return None

    def allows(self, category: str, action: str = "read") -> bool:
        return True

    def blocked_reasons(self, session: Session, groups: list[ProfileGroup]) -> dict[str, str | None]:
        return dict.fromkeys(g.root.id for g in groups)


@contextmanager
def minus_the_gate() -> Iterator[None]:
    """Inside: an app built gets no gate extension, and a request makes an `_Ungated` access context."""
    saved = api.AccessGateExtension, api.AccessContext
    api.AccessGateExtension, api.AccessContext = _NoGate, _Ungated  # type: ignore[misc]
    try:
        yield
    finally:
        api.AccessGateExtension, api.AccessContext = saved  # type: ignore[misc]


def ungated(client: TestClient, requests: list[Request]) -> Spread:
    with minus_the_gate():
        return latencies(client, requests)


def every_commit(store: Store, client: TestClient, requests: list[Request]) -> Spread:
    """The lookups with a signed checkpoint after every audited commit (CDP_AUDIT_CHECKPOINT_SECONDS=0)."""
    spaced = store.settings
    store.settings = spaced.model_copy(update={"audit_checkpoint_seconds": 0})
    try:
        return latencies(client, requests)
    finally:
        store.settings = spaced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000, help="per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    dataset = generate_demo(people=args.people)
    rng = random.Random(7)
    emails = [rng.choice(p.emails) for p in rng.choices(dataset.people, k=args.requests) if p.emails]
    with bench_store(args.postgres) as store:
        access = AccessContext.operator("order_fulfillment")
        for i in range(0, len(dataset.events), 500):
            store.run(lambda s, batch=dataset.events[i : i + 500]: ingest(s, store, access, batch))
        with store.session() as session:
            _, admin = create_api_key(session, name="bench admin", role="admin")
            _, support = create_api_key(session, name="bench support", role="support_agent")
            session.commit()

        def lookups(key: str) -> list[Request]:
            headers = {"Authorization": f"Bearer {key}", "X-CDP-Purpose": "support"}
            return [("/graphql", {"query": LOOKUP, "variables": {"email": e}}, headers) for e in emails]

        gated = TestClient(api.create_app(store))
        with minus_the_gate():
            bare = TestClient(api.create_app(store))
        ungated(bare, lookups(admin)[:200])  # warm-up: caches, grants, connection pool
        latencies(gated, lookups(admin)[:200])
        runs: dict[str, Callable[[], Spread]] = {
            "GET /healthz": lambda: latencies(gated, [("/healthz", {}, {})] * len(emails)),
            "lookup as admin": lambda: latencies(gated, lookups(admin)),
            "lookup as support_agent (gated)": lambda: latencies(gated, lookups(support)),
            "lookup, checkpoint every commit": lambda: every_commit(store, gated, lookups(admin)),
            "lookup minus the gate": lambda: ungated(bare, lookups(admin)),
        }
        figures: dict[str, list[Spread]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, run in runs.items():
                figures[name].append(run())
        backend = "postgresql" if args.postgres else "sqlite"
        print(f"backend: {backend}, {len(emails)} requests per run, {args.repeats} runs, demo people {args.people}, "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
        print("median (min–max) over the runs of each run's figure, ms")
        for name, spreads in figures.items():
            p50 = Spread(tuple(s.median for s in spreads))
            p95 = Spread(tuple(s.quantile(0.95) for s in spreads))
            print(f"{name:34s} p50 {p50.show(1000)}   p95 {p95.show(1000)}")

        health, admin_run, support_run, every_run, bare_run = figures.values()

        def ratio(a: list[Spread], b: list[Spread]) -> str:
            return Spread(tuple(x.median / y.median for x, y in zip(a, b, strict=True))).show()

        print(f"lookup/healthz, p50: {ratio(admin_run, health)}")
        print(f"gate overhead, support_agent vs admin, p50: {ratio(support_run, admin_run)}   goal <= 1.15")
        print(f"checkpoint after every commit vs spaced (1 s), p50: {ratio(every_run, admin_run)}")
        print(f"whole gate incl. the audit entry, admin vs minus the gate, p50: {ratio(admin_run, bare_run)}")


if __name__ == "__main__":
    main()
