"""API key lifecycle: `cdp apikey list / revoke / rotate`, optional expiry, last-used time; revoked and expired
keys are refused with 401 and a message that says which; `cdp demo` keeps one admin key."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from cdp.api.app import create_app
from cdp.auth.models import ApiKey
from cdp.auth.service import LAST_USED_PRECISION, create_api_key, find_key, revoke_api_key
from cdp.cli.main import app
from cdp.ids import utcnow
from cdp.settings import Settings
from cdp.store import Store

runner = CliRunner()


def _ask(store: Store, secret: str) -> tuple[int, str]:
    with TestClient(create_app(store)) as client:
        response = client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": f"Bearer {secret}", "X-CDP-Purpose": "support"},
        )
    return response.status_code, response.json().get("errors", [{}])[0].get("message", "")


def _flat(output: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(output.split())


def _rows(output: str) -> list[dict[str, str]]:
    header, *lines = output.strip().splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


def _stored(store: Store, key_id: str) -> ApiKey:
    with store.session() as session:
        key = session.get(ApiKey, key_id)
        assert key is not None
        session.expunge(key)
        return key


def test_list_revoke_and_rotate_from_the_command_line(store: Store, cli_env: Settings) -> None:
    created = runner.invoke(app, ["apikey", "create", "--name", "storefront", "--role", "frontend_app"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    [row] = _rows(runner.invoke(app, ["apikey", "list"]).stdout)
    assert (row["name"], row["role"], row["prefix"], row["expires"], row["last_used"], row["revoked"]) == (
        "storefront", "frontend_app", secret[:12], "-", "-", "-",
    )  # fmt: skip
    assert secret not in runner.invoke(app, ["apikey", "list"]).stdout

    assert _ask(store, secret) == (200, "")
    [used] = _rows(runner.invoke(app, ["apikey", "list"]).stdout)
    assert used["last_used"] != "-"

    rotated = runner.invoke(app, ["apikey", "rotate", row["id"]])
    assert rotated.exit_code == 0, rotated.output
    new_secret = rotated.stdout.strip().splitlines()[-1]
    assert new_secret != secret
    status, message = _ask(store, secret)
    assert status == 401 and message.startswith(f"API key {secret[:12]}... was revoked on ")
    assert _ask(store, new_secret) == (200, "")
    [current] = _rows(runner.invoke(app, ["apikey", "list"]).stdout)
    assert (current["name"], current["role"]) == ("storefront", "frontend_app") and current["id"] != row["id"]
    assert len(_rows(runner.invoke(app, ["apikey", "list", "--all"]).stdout)) == 2

    revoked = runner.invoke(app, ["apikey", "revoke", current["id"]])
    assert revoked.exit_code == 0
    assert _ask(store, new_secret)[0] == 401
    assert _rows(runner.invoke(app, ["apikey", "list"]).stdout or "id") == []
    again = runner.invoke(app, ["apikey", "rotate", current["id"]])
    assert again.exit_code == 1 and "is revoked; create a new one instead" in _flat(again.output)
    unknown = runner.invoke(app, ["apikey", "revoke", "no-such-key"])
    assert unknown.exit_code == 1 and "no API key with id no-such-key" in _flat(unknown.output)


def test_expired_keys_are_refused(store: Store, cli_env: Settings) -> None:
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    created = runner.invoke(app, ["apikey", "create", "--name", "temp", "--role", "admin", "--expires", tomorrow])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert _ask(store, secret) == (200, "")
    [row] = _rows(runner.invoke(app, ["apikey", "list"]).stdout)
    assert row["expires"] == f"{tomorrow} 00:00"

    with store.session() as session:  # time passes
        key = find_key(session, secret)
        assert key is not None
        key.expires_at = utcnow() - timedelta(minutes=5)
        session.commit()
        expired_at = key.expires_at
    assert _ask(store, secret) == (401, f"API key {secret[:12]}... expired on {expired_at:%Y-%m-%d %H:%M} UTC")

    past = runner.invoke(app, ["apikey", "create", "--name", "x", "--role", "admin", "--expires", "2001-01-01"])
    assert past.exit_code == 1 and "api key expiry must be in the future" in _flat(past.output)
    bad = runner.invoke(app, ["apikey", "create", "--name", "x", "--role", "admin", "--expires", "soon"])
    assert bad.exit_code == 1 and "--expires must be an ISO date" in _flat(bad.output)


def test_last_used_is_written_at_most_once_per_precision(store: Store) -> None:
    with store.session() as session:
        key, secret = create_api_key(session, name="busy", role="admin")
        session.commit()
    assert _ask(store, secret)[0] == 200
    first = _stored(store, key.id).last_used_at
    assert first is not None and utcnow() - first < LAST_USED_PRECISION
    assert _ask(store, secret)[0] == 200
    assert _stored(store, key.id).last_used_at == first  # within the precision: no write


@pytest.mark.usefixtures("cli_env")
def test_demo_reuses_its_admin_key(store: Store) -> None:
    runs = [runner.invoke(app, ["demo", "--people", "3", "--seed", "3"]) for _ in range(2)]
    assert all(r.exit_code == 0 for r in runs), runs[0].output
    keys = [json.loads(r.stdout)["admin_api_key"] for r in runs]
    assert keys[0] == keys[1]
    with store.session() as session:
        admins = session.query(ApiKey).filter(ApiKey.name == "demo admin").all()
    assert len(admins) == 1
    assert _ask(store, keys[0]) == (200, "")


def test_a_key_revoked_by_another_process_is_refused_by_a_running_server_on_its_next_request(
    store: Store, settings: Settings
) -> None:
    """Nothing about a key is cached between requests: the server's next request reads the revocation."""
    with store.session() as session:
        key, secret = create_api_key(session, name="revoked while serving", role="admin")
        session.commit()
    headers = {"Authorization": f"Bearer {secret}", "X-CDP-Purpose": "support"}
    with TestClient(create_app(store)) as client:
        assert client.post("/graphql", json={"query": "{ __typename }"}, headers=headers).status_code == 200
        other = Store.open(settings)  # another process's store: its own engines and connections
        with other.session() as session:
            revoke_api_key(session, key.id)
            session.commit()
        other.close()
        refused = client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["message"].startswith(f"API key {secret[:12]}... was revoked on ")
