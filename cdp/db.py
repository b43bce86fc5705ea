"""Engines and sessions for the data database and the key store, and the schema-currency check."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Table, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def table_of(model: type[SQLModel]) -> Table:
    """The Core table a SQLModel table class maps, for bulk INSERT/UPDATE (SQLModel sets `__table__` at runtime
    only, so the type checker cannot see it)."""
    table = inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


class SchemaOutdated(RuntimeError):
    """The data database is not at the code's migration head."""


def make_engine(url: str) -> Engine:
    """SQLite gets WAL, a busy timeout and foreign keys; its directory is created on first use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def alembic_config(url: str) -> Config:
    cfg = Config(str(MIGRATIONS_DIR.parent / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def check_schema(engine: Engine) -> None:
    """Refuse to run against a database whose schema is not at the code's head."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = head_revision()
    if current != head:
        raise SchemaOutdated(
            f"database schema is at revision {current or 'none (empty database)'}, this version needs {head}: "
            "run `cdp db upgrade`"
        )
