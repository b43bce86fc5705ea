"""The connectors' routes, mounted by the app with one line."""

from __future__ import annotations

from starlette.routing import Route

from cdp.connectors.segment import CALLS, segment_endpoint
from cdp.connectors.shopify import shopify_data_endpoint
from cdp.store import Store


def connector_routes(store: Store) -> list[Route]:
    routes = [Route("/connectors/shopify", shopify_data_endpoint(store), methods=["POST"])]
    routes.append(Route("/v1/batch", segment_endpoint(store, None), methods=["POST"]))
    routes += [Route(f"/v1/{call}", segment_endpoint(store, call), methods=["POST"]) for call in CALLS]
    return routes
