"""Make `audit_entry` append-only in PostgreSQL itself, so not even a bug or a stolen app credential with
plain DML rights can rewrite history. (A table owner or superuser can still drop the trigger: run the app
under a role that does not own the table; the hash chain catches what the trigger cannot.)"""

from __future__ import annotations

from sqlalchemy import Connection, text

# For the alembic migration's upgrade(); a statement-level trigger also refuses UPDATE/DELETE matching no row.
POSTGRES_APPEND_ONLY_SQL: list[str] = [
    """
    CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_entry is append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """,
    """
    CREATE OR REPLACE TRIGGER audit_entry_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_entry
        FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()
    """,
]

# For the migration's downgrade().
POSTGRES_APPEND_ONLY_DOWNGRADE_SQL: list[str] = [
    "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry",
    "DROP FUNCTION IF EXISTS audit_entry_append_only()",
]


def install_append_only_guard(connection: Connection) -> None:
    """Create the trigger on PostgreSQL (idempotent); nothing on other dialects. Does not commit."""
    if connection.dialect.name == "postgresql":
        for statement in POSTGRES_APPEND_ONLY_SQL:
            connection.execute(text(statement))
