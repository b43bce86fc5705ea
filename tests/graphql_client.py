"""A GraphQL client for tests: runs the named operations of graphql/operations/**/*.graphql against the real
ASGI app (authentication, purpose header, gate, hardening and all)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.auth.service import create_api_key
from cdp.store import Store
from graphql import OperationDefinitionNode, parse

OPERATIONS_DIR = Path(__file__).resolve().parent.parent / "graphql" / "operations"


@lru_cache(maxsize=1)
def operations() -> dict[str, str]:
    """Operation name -> the text of the file that defines it (a document may hold several operations)."""
    found: dict[str, str] = {}
    for path in sorted(OPERATIONS_DIR.rglob("*.graphql")):
        text = path.read_text()
        for definition in parse(text).definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name:
                found[definition.name.value] = text
    return found


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
