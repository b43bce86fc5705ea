"""The Segment-spec intake, driven by the official SDKs (segment-analytics-python, rudder-sdk-python), unchanged,
against a real server on a loopback port; write keys made with `cdp source create`."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient
from sqlalchemy import select
from typer.testing import CliRunner

from cdp.api.app import create_app
from cdp.cli.main import app as cli
from cdp.events.models import Event
from cdp.settings import Settings
from cdp.store import Store
from tests.reads import identities, traits

runner = CliRunner()


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(5)


def _source(name: str, role: str, purpose: str) -> str:
    result = runner.invoke(cli, ["source", "create", "--name", name, "--role", role, "--purpose", purpose])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def _events(store: Store, source: str) -> list[Event]:
    with store.session() as session:
        return list(session.execute(select(Event).where(Event.source == source).order_by(Event.occurred_at)).scalars())


def test_segment_and_rudderstack_sdks_send_unchanged(store: Store, cli_env: Settings, server: str) -> None:
    checkout_key = _source("checkout", "frontend_app", "order_fulfillment")
    web_key = _source("web", "frontend_app", "personalization")
    errors: list[Exception] = []
    segment = SegmentClient(checkout_key, host=server, sync_mode=True, on_error=lambda e, _: errors.append(e))
    _, identify = segment.identify("user-17", {"email": "Mia@Example.com", "firstName": "Mia"})
    _, order = segment.track(
        "user-17",
        "Order Completed",
        {"order_id": "A-1", "total": 49.9, "currency": "EUR", "products": [{"sku": "S-1", "quantity": 1}]},
    )
    rudder = RudderClient(web_key, host=server, sync_mode=True, on_error=lambda e, _: errors.append(e))  # gzips
    rudder.page(anonymous_id="anon-5", name="Home", properties={"path": "/"})
    rudder.track(anonymous_id="anon-5", event="Product Viewed", properties={"sku": "S-1"})
    assert errors == []

    checkout = _events(store, "segment.checkout")
    assert [(e.type, e.source_event_id) for e in checkout] == [
        ("identify", identify["messageId"]),
        ("order", order["messageId"]),
    ]
    assert (checkout[1].amount_minor, checkout[1].currency) == (4990, "EUR")
    with store.session() as session:
        held = {(i.kind, i.value) for i in identities(session, store, checkout[0].profile_id)}
        assert {("external_id", "user-17"), ("email", "mia@example.com")} <= held
        assert traits(session, store, checkout[0].profile_id)["first_name"].value == "Mia"
    web = _events(store, "segment.web")
    assert sorted(e.type for e in web) == ["page_view", "track"]

    again = segment.track(
        "user-17", "Order Completed", {"total": 49.9, "currency": "EUR"}, message_id=order["messageId"]
    )
    assert again[0] is not None and len(_events(store, "segment.checkout")) == 2  # messageId: stored once


def _post(server: str, path: str, key: str, document: object, **headers: str) -> httpx.Response:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return httpx.post(server + path, content=body, headers={"Authorization": auth, **headers})


def test_bad_messages_are_reported_by_index_and_the_good_ones_stored(
    store: Store, cli_env: Settings, server: str
) -> None:
    key = _source("web", "frontend_app", "personalization")
    batch = [
        {"type": "page", "messageId": "m-1", "anonymousId": "a-1", "timestamp": "2026-11-30T10:00:00Z"},
        {
            "type": "track",
            "messageId": "m-2",
            "userId": "u-1",
            "event": "Order Completed",
            "properties": {"total": 10},
        },  # no currency; and personalization may not write external ids
        {"type": "group", "messageId": "m-3", "anonymousId": "a-1"},
    ]
    response = _post(server, "/v1/batch", key, {"batch": batch})
    assert response.status_code == 200
    rejected = {r["index"]: r for r in response.json()["rejected"]}
    assert sorted(rejected) == [1, 2] and rejected[2]["errors"] == [
        "type: expected one of identify, track, page, screen, alias"
    ]
    assert any("currency" in e or "access denied" in e for e in rejected[1]["errors"])
    assert [e.source_event_id for e in _events(store, "segment.web")] == ["m-1"]


def test_write_key_size_and_encoding_are_checked(store: Store, cli_env: Settings, server: str) -> None:
    key = _source("web", "frontend_app", "personalization")
    page = {"messageId": "m-1", "anonymousId": "a-1"}
    assert _post(server, "/v1/page", "cdpw_wrong", page).status_code == 401
    assert httpx.post(server + "/v1/page", json=page).status_code == 401  # no key at all
    assert _post(
        server, "/v1/page", key, gzip.compress(json.dumps(page).encode()), **{"Content-Encoding": "gzip"}
    ).json() == {"success": True}
    big = {
        "batch": [
            {"type": "page", "messageId": f"m-{i}", "anonymousId": "a", "properties": {"pad": "x" * 1000}}
            for i in range(600)
        ]
    }
    assert _post(server, "/v1/batch", key, big).status_code == 413
    bomb = gzip.compress(json.dumps(big).encode())  # small on the wire, over the limit once inflated
    assert (
        len(bomb) < 50_000 and _post(server, "/v1/batch", key, bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    )
    assert _post(server, "/v1/batch", key, b"{not json").status_code == 400
    assert _post(server, "/v1/page", key, page, **{"Content-Encoding": "br"}).status_code == 415


def test_alias_links_the_anonymous_visitor_to_the_signed_in_user(store: Store, cli_env: Settings, server: str) -> None:
    key = _source("checkout", "frontend_app", "order_fulfillment")
    identify = {"messageId": "m-1", "userId": "user-9", "traits": {"email": "lee@example.com"}}
    alias = {"messageId": "m-2", "previousId": "anon-9", "userId": "user-9"}
    assert _post(server, "/v1/identify", key, identify).json() == {"success": True}
    assert _post(server, "/v1/alias", key, alias).json() == {"success": True}
    first, second = _events(store, "segment.checkout")
    assert first.profile_id == second.profile_id
    with store.session() as session:
        held = {(i.kind, i.value) for i in identities(session, store, first.profile_id)}
    assert {("external_id", "user-9"), ("anonymous_id", "anon-9"), ("email", "lee@example.com")} <= held
