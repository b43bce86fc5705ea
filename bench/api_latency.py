"""GraphQL latency through the ASGI app on the demo data (2,000 people), in one run:

* profileByIdentifier p50/p95 (issue: p95 under 10 ms), against GET /healthz through the same app;
* gate overhead: the same profile query for an allowed non-admin role (support_agent, purpose support:
  grants looked up per field, consent checked per subject) vs. the admin path; and vs. a schema without the
  access-gate extension at all (no field check, no audit entry), to show what the whole gate costs.

  python bench/api_latency.py [--requests 2000] [--people 2000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import bench_store  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.api import app as api  # noqa: E402
from cdp.auth.service import create_api_key  # noqa: E402
from cdp.demo import generate_demo  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402

LOOKUP = """query Lookup($email: String!) {
  profileByIdentifier(kind: email, value: $email) { id firstName lastName email phone city }
}"""


def timed(client: TestClient, requests: list[tuple[str, dict, dict]]) -> list[float]:
    samples = []
    for path, body, headers in requests:
        start = time.perf_counter()
        response = client.post(path, json=body, headers=headers) if body else client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text
    return samples


def summary(name: str, samples: list[float]) -> float:
    q = statistics.quantiles(samples, n=100)
    print(f"{name:44s} p50 {q[49]:6.2f} ms   p95 {q[94]:6.2f} ms   mean {statistics.fmean(samples):6.2f} ms")
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
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

        def requests(key: str) -> list[tuple[str, dict, dict]]:
            headers = {"Authorization": f"Bearer {key}", "X-CDP-Purpose": "support"}
            return [("/graphql", {"query": LOOKUP, "variables": {"email": e}}, headers) for e in emails]

        client = TestClient(api.create_app(store))
        timed(client, requests(admin)[:200])  # warm-up: caches, grants, connection pool
        backend = "postgresql" if args.postgres else "sqlite"
        print(f"backend: {backend}, {args.requests} requests, demo people {args.people}")
        health = summary("GET /healthz (baseline)", timed(client, [("/healthz", {}, {})] * args.requests))
        admin_ms = summary("profileByIdentifier as admin", timed(client, requests(admin)))
        gated_ms = summary("profileByIdentifier as support_agent (gated)", timed(client, requests(support)))

        original = api.AccessGateExtension
        api.AccessGateExtension = _NoGate  # type: ignore[misc]
        try:
            bare = TestClient(api.create_app(store))
            timed(bare, requests(admin)[:200])
            bare_ms = summary("profileByIdentifier, gate extension removed", timed(bare, requests(admin)))
        finally:
            api.AccessGateExtension = original  # type: ignore[misc]
        print(f"ratio lookup/healthz (median): {admin_ms / health:.2f}")
        print(f"gate overhead, support_agent vs admin (median ratio): {gated_ms / admin_ms:.3f}   goal <= 1.15")
        print(f"whole gate incl. audit write, admin vs no gate extension: {admin_ms / bare_ms:.3f}")


class _NoGate(api.AccessGateExtension):
    def on_execute(self):  # noqa: ANN201 - the extension hook
        yield

    def get_results(self) -> dict:
        return {}


if __name__ == "__main__":
    main()
