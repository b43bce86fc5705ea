"""Shared fixtures: a fresh database per test on SQLite, and on PostgreSQL where reachable.

`CDP_TEST_POSTGRES_URL` names a server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres);
each test that asks for `database_url` gets its own database there, dropped afterwards.
"""

from __future__ import annotations

import base64
import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.db import upgrade
from cdp.dsr.settings import DsrSettings, get_dsr_settings
from cdp.settings import Settings, get_settings
from cdp.store import Store
from tests.activation_helpers import SHOPIFY_SECRET
from tests.dsr_helpers import Inbox
from tests.graphql_client import GraphQLClient

POSTGRES_URL = os.environ.get("CDP_TEST_POSTGRES_URL", "")


def _backends() -> list:
    reason = "PostgreSQL not configured: set CDP_TEST_POSTGRES_URL (the CI script does)"
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not POSTGRES_URL, reason=reason))]


def postgres_database() -> Iterator[str]:
    """Create a throw-away database on the test server and yield its URL; drop it afterwards."""
    server = make_url(POSTGRES_URL)
    name = f"cdp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of an empty database, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cdp.db'}"
    else:
        yield from postgres_database()


TEST_MASTER_KEY = "v1:" + base64.b64encode(bytes(range(32))).decode()  # fixed test key, never a real one


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:
    """Settings for a fresh, migrated data database and its own key store under tmp_path."""
    result = Settings(
        data_dir=tmp_path / "cdp-data",
        database_url=database_url,
        keystore_url=f"sqlite:///{tmp_path / 'keys.db'}",
        master_key=TEST_MASTER_KEY,
    )
    upgrade(database_url)
    return result


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def production_store(settings: Settings) -> Iterator[Store]:
    """The same migrated database opened as a production deployment would. On PostgreSQL production refuses the
    test server's superuser (tests/test_hostile_inputs.py covers that refusal and the separate roles), so the
    production behaviour of the API is checked on SQLite."""
    if settings.database_url.startswith("postgresql"):
        pytest.skip("production refuses to run as the test server's superuser; checked on SQLite")
    opened = Store.open(settings.model_copy(update={"env": "production"}))
    yield opened
    opened.close()


@pytest.fixture
def gql(store: Store) -> Iterator[GraphQLClient]:
    client = GraphQLClient(store)
    yield client
    client.http.close()


@pytest.fixture
def shopify_client(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app over HTTP with the Shopify app secret set that tests.activation_helpers signs webhooks with."""
    monkeypatch.setenv("CDP_SHOPIFY_API_SECRET", SHOPIFY_SECRET)
    get_dsr_settings.cache_clear()
    with TestClient(create_app(store)) as http:
        yield http
    get_dsr_settings.cache_clear()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Point the `cdp` command at the test databases (settings are read from the environment)."""
    monkeypatch.setenv("CDP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CDP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CDP_KEYSTORE_URL", settings.keystore_url)
    monkeypatch.setenv("CDP_MASTER_KEY", settings.master_key)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Inbox, DsrSettings]]:
    """A real SMTP server on loopback whose inbox the test reads; the process's settings point at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for name, value in (
        ("CDP_MAIL_TRANSPORT", "smtp"),
        ("CDP_SMTP_HOST", "127.0.0.1"),
        ("CDP_SMTP_PORT", str(port)),
        ("CDP_SMTP_FROM", "privacy@shop.test"),
    ):
        monkeypatch.setenv(name, value)
    get_dsr_settings.cache_clear()
    yield (
        inbox,
        DsrSettings(mail_transport="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_from="privacy@shop.test"),
    )
    controller.stop()
    get_dsr_settings.cache_clear()
