"""Shared set-up for benchmarks: a throw-away store (SQLite in a temp dir, or PostgreSQL via --postgres)."""

from __future__ import annotations

import base64
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cdp.db import upgrade
from cdp.settings import Settings
from cdp.store import Store


@contextmanager
def bench_store(postgres_url: str | None = None) -> Iterator[Store]:
    """A migrated, empty store with a fixed master key; everything is removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/bench.db"
        admin, name = None, ""
        if postgres_url:
            name = f"cdp_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            database_url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        settings = Settings(
            data_dir=tmp,
            database_url=database_url,
            keystore_url=f"sqlite:///{tmp}/keys.db",
            master_key="v1:" + base64.b64encode(os.urandom(32)).decode(),
        )
        upgrade(database_url)
        store = Store.open(settings)
        try:
            yield store
        finally:
            store.close()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
