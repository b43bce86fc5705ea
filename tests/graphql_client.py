"""A GraphQL client for tests: runs the trusted documents of graphql/operations (one operation per file) against
the real ASGI app (authentication, purpose header, gate, hardening and all)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import uvicorn
from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.api.settings import ApiSettings
from cdp.api.trusted import TrustedDocument, read_documents
from cdp.auth.service import create_api_key
from cdp.store import Store

OPERATIONS_DIR = Path(__file__).resolve().parent.parent / "graphql" / "operations"


@lru_cache(maxsize=1)
def documents() -> dict[str, TrustedDocument]:
    """Operation name -> its trusted document (file, declared role and purpose, printed body)."""
    return {d.name: d for d in read_documents(OPERATIONS_DIR)}


@lru_cache(maxsize=1)
def operations() -> dict[str, str]:
    """Operation name -> the text of the file that defines it."""
    return {name: (OPERATIONS_DIR / d.file).read_text() for name, d in documents().items()}


class GraphQLClient:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.http = TestClient(create_app(store))

    def key(self, role: str, profile_id: str | None = None) -> str:
        with self.store.session() as session:
            _, secret = create_api_key(session, name=f"test {role}", role=role, profile_id=profile_id)
            session.commit()
        return secret

    def post(self, body: dict[str, Any], *, key: str | None, purpose: str | None, **headers: str):  # noqa: ANN201
        sent = {"Content-Type": "application/json", **headers}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        if purpose is not None:
            sent["X-CDP-Purpose"] = purpose
        return self.http.post("/graphql", json=body, headers=sent)

    def run(
        self, operation: str, variables: dict[str, Any] | None = None, *, key: str, purpose: str, **headers: str
    ) -> dict[str, Any]:
        """Run a named operation from graphql/operations; returns the JSON response (HTTP 200 asserted)."""
        body = {"query": operations()[operation], "operationName": operation, "variables": variables or {}}
        response = self.post(body, key=key, purpose=purpose, **headers)
        assert response.status_code == 200, response.text
        return response.json()

    def query(self, query: str, variables: dict[str, Any] | None = None, *, key: str, purpose: str) -> dict[str, Any]:
        response = self.post({"query": query, "variables": variables or {}}, key=key, purpose=purpose)
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def live_server(store: Store, settings: ApiSettings | None = None) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread; yields the /graphql URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(store, settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
