"""GraphiQL is served with its pinned assets by the app itself: the page loads nothing from another host, the
assets are the vendored npm files (checksums), and the header editor is pre-filled."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess

import pytest
from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.api.ide import STATIC_DIR
from cdp.store import Store
from tests.graphql_client import live_server
from tests.third_party import NODE_DIR, node_tools_available

ASSETS = STATIC_DIR / "graphiql"
PAGE_ASSETS = (
    "graphiql.min.css",
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "start.js",
)
_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def test_the_page_references_only_its_own_assets(store: Store) -> None:
    with TestClient(create_app(store)) as client:
        page = client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        references = _REFERENCE.findall(page.text)
        assert len(references) == 5  # one stylesheet, four scripts
        for reference in references:
            assert reference.startswith("/static/graphiql/"), reference
            asset = client.get(reference)
            assert asset.status_code == 200 and len(asset.content) > 100, reference
    assert "//" not in page.text.replace("http-equiv", "")


def test_the_stylesheet_loads_nothing_remote() -> None:
    css = (ASSETS / "graphiql.min.css").read_text()
    assert not [u for u in re.findall(r"url\(([^)]*)\)", css) if not u.strip("'\" ").startswith("data:")]


def test_assets_are_the_pinned_npm_files() -> None:
    lines = (ASSETS / "SHA256SUMS").read_text().splitlines()
    assert lines[0].startswith("# graphiql@3.8.3 react@18.3.1 react-dom@18.3.1")
    for line in lines[1:]:
        digest, name = line.split()
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, name


def test_the_header_editor_is_prefilled_with_key_and_purpose() -> None:
    start = (ASSETS / "start.js").read_text()
    assert 'Authorization: "Bearer <your API key>"' in start and '"X-CDP-Purpose": "support"' in start
    assert "defaultHeaders" in start and 'defaultEditorToolsVisibility: "headers"' in start
    assert "http" not in start.replace('new URL("/graphql", window.location.href)', "")


@pytest.mark.skipif(
    not node_tools_available() and not os.environ.get("CDP_TEST_NODE"),
    reason="jsdom not installed: run `npm ci` in tests/node (the CI script does)",
)
def test_the_page_renders_offline_in_jsdom(store: Store) -> None:
    """jsdom loads the page from a live server, refusing any other host; GraphiQL renders, headers pre-filled."""
    assert node_tools_available(), "CDP_TEST_NODE is set but tests/node has no node_modules: run `npm ci` there"
    with live_server(store) as url:
        result = subprocess.run(
            ["node", str(NODE_DIR / "graphiql_check.cjs"), url], capture_output=True, text=True, timeout=120, check=True
        )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["rendered"] and report["headerEditorOpen"]
    assert sorted(report["requested"]) == sorted(["/graphql", *(f"/static/graphiql/{name}" for name in PAGE_ASSETS)])
