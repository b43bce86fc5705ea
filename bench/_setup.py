"""Shared set-up for benchmarks: a throw-away store (SQLite in a temp dir, or PostgreSQL via --postgres)."""

from __future__ import annotations

import base64
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cdp.db import upgrade
from cdp.settings import Settings
from cdp.store import Store


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """The URL of a throw-away database on that server, dropped afterwards."""
    name = f"cdp_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def bench_store(postgres_url: str | None = None, *, keystore_on_postgres: bool = False) -> Iterator[Store]:
    """A migrated, empty store with a fixed master key; everything is removed afterwards. With
    `keystore_on_postgres` the key store is a second database on the same server (what processes on several
    hosts share) instead of a SQLite file."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as databases:
        database_url = f"sqlite:///{tmp}/bench.db"
        keystore_url = f"sqlite:///{tmp}/keys.db"
        if postgres_url:
            database_url = databases.enter_context(postgres_database(postgres_url))
            if keystore_on_postgres:
                keystore_url = databases.enter_context(postgres_database(postgres_url))
        settings = Settings(
            data_dir=tmp,
            database_url=database_url,
            keystore_url=keystore_url,
            master_key="v1:" + base64.b64encode(os.urandom(32)).decode(),
        )
        upgrade(database_url)
        store = Store.open(settings)
        try:
            yield store
        finally:
            store.close()
