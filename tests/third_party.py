"""Third-party GraphQL clients for the tests: Python `gql` (sends the document text) and Apollo Client through
tests/node/apollo_check.mjs (sends the manifest hash only). Both answer {data, errors} dicts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Protocol

from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport

from tests.graphql_client import documents

NODE_DIR = Path(__file__).resolve().parent / "node"


class Runner(Protocol):
    def __call__(self, name: str, variables: dict[str, Any], *, key: str, purpose: str) -> dict[str, Any]: ...


class GqlRunner:
    """The Python `gql` client over HTTP (requests transport)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, name: str, variables: dict[str, Any], *, key: str, purpose: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {key}", "X-CDP-Purpose": purpose}
        transport = RequestsHTTPTransport(url=self.url, headers=headers, retries=0)
        with Client(transport=transport) as session:
            request = GraphQLRequest(documents()[name].body, variable_values=variables, operation_name=name)
            try:
                result = session.execute(request, get_execution_result=True)
            except TransportQueryError as error:
                return {"data": error.data, "errors": error.errors, "extensions": error.extensions}
        return {"data": result.data, "errors": result.errors, "extensions": result.extensions}


def node_tools_available() -> bool:
    """Node and the packages of tests/node/package.json (`npm ci` there)."""
    modules = NODE_DIR / "node_modules"
    return shutil.which("node") is not None and all((modules / p).is_dir() for p in ("@apollo/client", "jsdom"))


class ApolloRunner:
    """@apollo/client in a Node process that reads one request per line and answers one line each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.process = subprocess.Popen(
            ["node", str(NODE_DIR / "apollo_check.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )

    def __call__(self, name: str, variables: dict[str, Any], *, key: str, purpose: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        headers = {"Authorization": f"Bearer {key}", "X-CDP-Purpose": purpose}
        request = {"url": self.url, "name": name, "variables": variables, "headers": headers}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the Apollo script ended without answering"
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)
