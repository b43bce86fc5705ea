"""Engines and sessions for the data database and the key store, and the schema-currency check."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, text
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


def partition_names(conn: Connection) -> set[str]:
    """The tables that are partitions of another (PostgreSQL; SQLite has none). The models and schema
    comparisons know only their parent, and reading the parent reads them all."""
    if conn.dialect.name != "postgresql":
        return set()
    return set(
        conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relispartition AND relkind IN ('r', 'p') "
                "AND relnamespace = current_schema()::regnamespace"
            )
        ).scalars()
    )


class ConcurrentWrite(RuntimeError):
    """A row this transaction decided on changed under it (another writer committed first); `Store.run` runs the
    work again, which then reads the other writer's rows."""


class SchemaOutdated(RuntimeError):
    """The data database is not at the code's migration head."""


def make_engine(url: str, *, pool_size: int = 10, pooler: bool = False) -> Engine:
    """SQLite gets WAL, a busy timeout and foreign keys; its directory is created on first use. PostgreSQL gets a
    pool of `pool_size` connections (and as many more under load); behind a transaction-pooling `pooler`, no
    prepared statements (psycopg prepares a query run five times on one connection)."""
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
            cur.execute("PRAGMA cache_size=-131072")
            cur.execute("PRAGMA mmap_size=1073741824")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        return engine
    options = {"prepare_threshold": None} if pooler else {}
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size, connect_args=options)


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


class DatabaseRoleError(RuntimeError):
    """The process connects to PostgreSQL as a role that could rewrite the audit log."""


_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_database_role(engine: Engine) -> None:
    """In production on PostgreSQL, refuse a superuser or a role that owns `audit_entry` (or is a member of
    its owner): either could disable the append-only trigger or drop the table."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        user, superuser = conn.execute(
            text("SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user")
        ).one()
        owner = conn.execute(
            text("SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'audit_entry'")
        ).scalar_one_or_none()
        owns = (
            owner is not None and conn.execute(text("SELECT pg_has_role(:owner, 'MEMBER')"), {"owner": owner}).scalar()
        )
    if superuser or owns:
        what = "a superuser" if superuser else f"the owner of the audit table ({owner})"
        raise DatabaseRoleError(
            f"refusing to run in production as PostgreSQL role {user!r}, {what}: connect as the application role "
            "made by `cdp db upgrade --create-roles`"
        )


def create_roles(url: str, owner_role: str, app_role: str) -> None:
    """Make `owner_role` (NOLOGIN) own every table and `app_role` (LOGIN, no password yet) the role the app
    connects as: plain DML, but only SELECT and INSERT on the audit log and SELECT on alembic_version.

    Idempotent; run it (as a superuser) after every upgrade, so that new tables change hands too."""
    for role in (owner_role, app_role):
        if not _ROLE_NAME.fullmatch(role):
            raise ValueError("role names must be lower-case letters, digits and underscores")
    if owner_role == app_role:
        raise ValueError("the owner role and the application role must differ")
    engine = make_engine(url)
    if engine.dialect.name != "postgresql":
        raise ValueError("--create-roles is for PostgreSQL; SQLite has no roles")
    owner, app = f'"{owner_role}"', f'"{app_role}"'
    with engine.begin() as conn:
        for role, login in ((owner_role, "NOLOGIN"), (app_role, "LOGIN")):
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is None:
                conn.execute(text(f'CREATE ROLE "{role}" {login}'))
        conn.execute(text(f"GRANT USAGE, CREATE ON SCHEMA public TO {owner}"))
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        for table in tables:
            conn.execute(text(f'ALTER TABLE public."{table}" OWNER TO {owner}'))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {app}"))
        conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}"))
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}"))
        conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry, alembic_version FROM {app}"))
        conn.execute(text(f"REVOKE INSERT ON alembic_version FROM {app}"))
        # The SECURITY DEFINER functions that make and drop a month's event partition run as their owner, which
        # must own the event table; the app role may call them (and do nothing else to the table's schema).
        functions = conn.execute(
            text(
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
                "AND p.prosecdef AND p.proname LIKE 'cdp\\_%'"
            )
        ).scalars()
        for function in functions:
            conn.execute(text(f"ALTER FUNCTION {function} OWNER TO {owner}"))
            conn.execute(text(f"GRANT EXECUTE ON FUNCTION {function} TO {app}"))
    engine.dispose()
