"""What the parser/validation caches save: the same query with the schema built once (caches warm) against
parsing and validating on every request, same run, same data.

    python bench/validation_cache.py [--requests 100] [--repeats 5]

Figures, in requests per second:
  * schema.execute_sync with the app's schema (ParserCache + ValidationCache, rules built once);
  * the baseline: the same extensions, in the same order, minus the two caches (parse + validate every
    request);
  * the caches present but the depth and alias limiters built per request by a factory: every request
    brings new rule classes, so the validation cache key never repeats (the mistake DESIGN.md warns about);
  * the whole ASGI app (transport checks, auth, purpose, session) with and without the caches.
Each of `--repeats` rounds sends `--requests` requests to every configuration in turn, so load on the
machine hits them alike; printed are the median and spread (min–max) of requests/s over the rounds, and
ratios of medians. (The app's extensions became factories; the baseline used to drop the caches by
isinstance on the list entries, which no longer matched, so it silently kept them. It now asks each factory
what it builds.)
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import strawberry
from starlette.testclient import TestClient
from strawberry.extensions import MaxAliasesLimiter, ParserCache, QueryDepthLimiter, ValidationCache

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ helpers; cdp without `pip install -e .`

from bench._rounds import interleaved, repeated  # noqa: E402
from bench._stats import rates  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.api import app as api  # noqa: E402
from cdp.api.context import RequestContext  # noqa: E402
from cdp.auth.service import Principal, create_api_key  # noqa: E402
from cdp.db import upgrade  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402
from cdp.settings import Settings  # noqa: E402
from cdp.store import Store  # noqa: E402

PURPOSE = "order_fulfillment"
CUSTOMERS = 10
QUERY = """
query Customers($first: Int!) {
  profiles(first: $first) {
    nodes {
      id email firstName lastName city country
      events(first: 5) { nodes { type occurredAt amount { amount currency } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
VARIABLES = {"first": CUSTOMERS}
# Lighter execution (page info only, nothing decrypted): parsing and validation weigh more.
LIGHT_QUERY = "query Customers($first: Int!) { profiles(first: $first) { pageInfo { hasNextPage endCursor } } }"


def open_store(root: Path) -> Store:
    settings = Settings(
        data_dir=root,
        database_url=f"sqlite:///{root / 'cdp.db'}",
        keystore_url=f"sqlite:///{root / 'keys.db'}",
        master_key="v1:" + base64.b64encode(os.urandom(32)).decode(),
    )
    upgrade(settings.resolved_database_url())
    store = Store.open(settings)
    events = [
        {
            "source": "shopify",
            "source_event_id": f"bench-{i}-{kind}",
            "type": kind,
            "occurred_at": "2026-03-01T10:00:00+01:00",
            "country": "DE",
            "identifiers": {"email": f"customer{i}@example.com"},
            "traits": {"first_name": f"Name{i}", "city": "Berlin"},
            "properties": {"order_id": f"o-{i}", "total": "19.99", "currency": "EUR", "items": []}
            if kind == "order"
            else {},
        }
        for i in range(CUSTOMERS)
        for kind in ("identify", "order")
    ]
    store.run(lambda s: ingest(s, store, AccessContext.operator(PURPOSE), events))
    return store


def uncached(schema: strawberry.Schema) -> strawberry.Schema:
    """The app's schema minus the two caches; every other extension stays, in the same order. The entries
    are factories, so each is asked what it builds."""
    extensions = [e for e in schema.extensions if not isinstance(e(), (ParserCache, ValidationCache))]
    return api.CdpSchema(query=schema.query, mutation=schema.mutation, extensions=extensions, config=schema.config)


def rules_per_request(schema: strawberry.Schema) -> strawberry.Schema:
    """The app's schema with the depth and alias limiters built per request, as a factory each: every request
    brings new rule classes, so validation never hits the cache."""
    extensions: list[Any] = []
    for extension in schema.extensions:
        if extension is api.LimitRules:
            extensions += [
                lambda: QueryDepthLimiter(max_depth=api.MAX_DEPTH),
                lambda: MaxAliasesLimiter(max_alias_count=api.MAX_ALIASES),
            ]
        else:
            extensions.append(extension)
    return api.CdpSchema(query=schema.query, mutation=schema.mutation, extensions=extensions, config=schema.config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per configuration and round")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp))
        session = store.session()
        principal = Principal("bench", "bench", "admin")

        def executor(schema: strawberry.Schema, query: str) -> Callable[[], object]:
            def run() -> object:
                context = RequestContext(store, session, AccessContext.for_principal(principal, PURPOSE))
                result = schema.execute_sync(query, variable_values=VARIABLES, context_value=context)
                assert not result.errors, result.errors  # a refused query would measure the wrong thing
                return result

            return run

        cached_schema = api.build_schema(production=False)
        schemas = {
            "schema built once, caches warm": cached_schema,
            "no caches (parse+validate each)": uncached(cached_schema),
            "caches, rules built per request": rules_per_request(cached_schema),
        }
        runs = {
            (label, name): repeated(executor(schema, query), args.requests)
            for label, query in (("full", QUERY), ("light", LIGHT_QUERY))
            for name, schema in schemas.items()
        }

        with store.session() as keys:
            _, secret = create_api_key(keys, name="bench", role="admin")
            keys.commit()
        headers = {"Authorization": f"Bearer {secret}", "X-CDP-Purpose": PURPOSE}
        app = api.create_app(store)
        endpoint = next(r.app for r in app.routes if getattr(r, "path", "") == "/graphql")
        with TestClient(app) as client:

            def post(schema: strawberry.Schema) -> Callable[[], None]:
                def run() -> None:
                    endpoint.schema = schema
                    response = client.post("/graphql", json={"query": QUERY, "variables": VARIABLES}, headers=headers)
                    assert response.status_code == 200 and "errors" not in response.json(), response.text

                return run

            runs[("app", "caches warm")] = repeated(post(cached_schema), args.requests)
            runs[("app", "no caches")] = repeated(post(schemas["no caches (parse+validate each)"]), args.requests)
            for run in runs.values():
                run()  # warm-up: the caches filled, every code path imported
            seconds = interleaved(runs, args.repeats)
        session.close()
        store.close()

    figures = {key: rates(args.requests, spread.values) for key, spread in seconds.items()}
    print(f"full: {CUSTOMERS} customers x 6 fields + 5 events each; light: pageInfo only; SQLite")
    print(f"{args.repeats} interleaved rounds of {args.requests} requests each; req/s, median (min–max, n)")
    for (label, name), rate in figures.items():
        print(f"  {label:<5} {name:<34} {rate.show(digits=0):>28}")
    for label in ("full", "light"):
        warm, cold, per_request = (
            figures[(label, name)].median
            for name in (
                "schema built once, caches warm",
                "no caches (parse+validate each)",
                "caches, rules built per request",
            )
        )
        print(
            f"execute_sync {label}: caches warm / no caches = {warm / cold:.2f}x "
            f"({(1 / cold - 1 / warm) * 1000:.2f} ms saved per request); rules per request / no caches = "
            f"{per_request / cold:.2f}x"
        )
    warm, cold = figures[("app", "caches warm")].median, figures[("app", "no caches")].median
    print(f"app full: caches warm / no caches = {warm / cold:.2f}x (medians)")


if __name__ == "__main__":
    main()
