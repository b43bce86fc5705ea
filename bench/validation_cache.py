"""What the parser/validation caches save: the same query with the schema built once (caches warm) against
parsing and validating on every request, same run, same data.

    python bench/validation_cache.py [seconds-per-measurement]

Figures, in requests per second:
  * schema.execute_sync with the app's schema (ParserCache + ValidationCache, rules built once);
  * the same extensions without the two caches (parse + validate every request);
  * the caches present but the limiters built per request by a factory: every request brings new rule
    classes, so the validation cache key never repeats (the mistake DESIGN.md warns about);
  * the whole ASGI app (transport checks, auth, purpose, session) with and without the caches.
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import cdp  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import strawberry
from starlette.testclient import TestClient
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from cdp.access.gate import AccessContext
from cdp.api import app as api
from cdp.api.context import RequestContext
from cdp.api.cost import QueryCostLimiter
from cdp.api.errors import readable
from cdp.api.extensions import AccessGateExtension
from cdp.auth.service import Principal, create_api_key
from cdp.db import upgrade
from cdp.ingest.service import ingest
from cdp.settings import Settings
from cdp.store import Store

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


def per_second(call: Callable[[], object], seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        call()
        calls += 1
    return calls / elapsed


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
    """The app's schema minus the two caches; every other extension stays, in the same order."""
    extensions = [e for e in schema.extensions if not isinstance(e, (ParserCache, ValidationCache))]
    return api.CdpSchema(query=schema.query, mutation=schema.mutation, extensions=extensions, config=schema.config)


def rules_per_request(schema: strawberry.Schema) -> strawberry.Schema:
    """Caches kept, limiters built per request: each builds new rule classes, so validation never hits."""
    extensions: list[Any] = [
        ParserCache(maxsize=256),
        ValidationCache(maxsize=256),
        lambda: QueryDepthLimiter(max_depth=api.MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=api.MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=api.MAX_TOKENS),
        QueryCostLimiter,
        lambda: MaskErrors(should_mask_error=lambda error: not readable(error)),
        AccessGateExtension,
    ]
    return api.CdpSchema(query=schema.query, mutation=schema.mutation, extensions=extensions, config=schema.config)


def main(seconds: float) -> None:
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
        figures = {
            (label, name): per_second(executor(schema, query), seconds)
            for label, query in (("full", QUERY), ("light", LIGHT_QUERY))
            for name, schema in schemas.items()
        }

        with store.session() as keys:
            _, secret = create_api_key(keys, name="bench", role="admin")
            keys.commit()
        headers = {"Authorization": f"Bearer {secret}", "X-CDP-Purpose": PURPOSE}
        app = api.create_app(store)
        view = next(r.app for r in app.routes if getattr(r, "path", "") == "/graphql").view
        with TestClient(app) as client:

            def post() -> object:
                response = client.post("/graphql", json={"query": QUERY, "variables": VARIABLES}, headers=headers)
                assert response.status_code == 200 and "errors" not in response.json(), response.text
                return response

            figures[("app", "caches warm")] = per_second(post, seconds)
            view.schema = uncached(cached_schema)
            figures[("app", "no caches")] = per_second(post, seconds)
        session.close()
        store.close()

    print(f"full: {CUSTOMERS} customers x 6 fields + 5 events each; light: pageInfo only; SQLite, {seconds:.1f}s each")
    for (label, name), rate in figures.items():
        print(f"  {label:<5} {name:<34} {rate:9.0f} req/s")
    for label in ("full", "light"):
        warm, cold = (
            figures[(label, "schema built once, caches warm")],
            figures[(label, "no caches (parse+validate each)")],
        )
        per_request = figures[(label, "caches, rules built per request")]
        print(
            f"execute_sync {label}: caches warm / no caches = {warm / cold:.2f}x "
            f"({(1 / cold - 1 / warm) * 1000:.2f} ms saved per request); rules per request / no caches = "
            f"{per_request / cold:.2f}x"
        )
    warm, cold = figures[("app", "caches warm")], figures[("app", "no caches")]
    print(f"app full: caches warm / no caches = {warm / cold:.2f}x")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
