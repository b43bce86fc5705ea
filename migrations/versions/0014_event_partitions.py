"""events: partitioned by month of occurred_at on PostgreSQL; primary key (id, occurred_at); the idempotency key
(source, source_event_id) moves to its own table, event_key

A partitioned table's unique constraints must contain the partition key, so (source, source_event_id) cannot stay
unique on the event table itself. SQLite gets the same keys and table, without partitions. Existing rows are
copied into the new table (and their keys into event_key), then the old table is dropped.

On PostgreSQL two SECURITY DEFINER functions make and drop one month's partition, so the application role (which
does not own the table, see `cdp db upgrade --create-roles`) can keep partitions ahead of time and retention can
drop an expired month: nothing else of the table's DDL is open to it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-14 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString
COLUMNS = (
    "id, profile_id, source, source_event_id, type, occurred_at, utc_offset_minutes, received_at, amount_minor, "
    "currency, base_amount_minor, base_currency, properties_ct, redacted_ct"
)
INDEXES = {
    "ix_event_occurred_at": ["occurred_at"],
    "ix_event_received_at": ["received_at"],
    "ix_event_profile_time": ["profile_id", "occurred_at", "id"],
}

# Moves the month's rows that arrived before it had a partition out of the default partition, then attaches.
# CREATE + ATTACH rather than CREATE ... PARTITION OF: attaching locks the parent in SHARE UPDATE EXCLUSIVE
# mode, which lets inserts and reads go on. The advisory lock keeps two maintenance runs from racing.
CREATE_PARTITION = """
CREATE FUNCTION cdp_create_event_partition(month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    name text := 'event_' || to_char(month, 'YYYY_MM');
    low timestamptz := month::timestamp AT TIME ZONE 'UTC';
    high timestamptz := (month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF month IS NULL OR month <> date_trunc('month', month)::date THEN
        RAISE EXCEPTION 'an event partition starts on the first day of a month, not %', month;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('cdp_event_partitions'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE event INCLUDING DEFAULTS)', name);
    EXECUTE format('WITH moved AS (DELETE FROM event_default WHERE occurred_at >= $1 AND occurred_at < $2 '
                   'RETURNING *) INSERT INTO %I SELECT * FROM moved', name) USING low, high;
    EXECUTE format('ALTER TABLE event ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, low, high);
    RETURN true;
END $$
"""
DROP_PARTITION = """
CREATE FUNCTION cdp_drop_event_partition(month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    name text := 'event_' || to_char(month, 'YYYY_MM');
BEGIN
    IF month IS NULL OR month <> date_trunc('month', month)::date THEN
        RAISE EXCEPTION 'an event partition starts on the first day of a month, not %', month;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('cdp_event_partitions'));
    IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = 'event'::regclass AND inhrelid = to_regclass(name))
    THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE %I', name);
    RETURN true;
END $$
"""
FUNCTIONS = ("cdp_create_event_partition(date)", "cdp_drop_event_partition(date)")
# Every month the existing rows fall in, and this month and the next three, so new events find their partition.
MONTHS = """
SELECT cdp_create_event_partition(month::date) FROM (
    SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS month FROM event_unpartitioned
    UNION
    SELECT generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
                           date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months', interval '1 month')
) months ORDER BY month
"""


def _event_table(*, partitioned: bool) -> None:
    """The event table, empty: with the new keys (partitioned on PostgreSQL), or with the keys of 0012."""
    key = ["id", "occurred_at"] if partitioned else ["id"]
    unique = [] if partitioned else [sa.UniqueConstraint("source", "source_event_id", name="uq_event_source_id")]
    op.create_table(
        "event",
        sa.Column("id", _str(length=36), nullable=False),
        sa.Column("profile_id", _str(length=36), nullable=False),
        sa.Column("source", _str(length=64), nullable=False),
        sa.Column("source_event_id", _str(length=200), nullable=False),
        sa.Column("type", _str(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", _str(length=3), nullable=True),
        sa.Column("base_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("base_currency", _str(length=3), nullable=True),
        sa.Column("properties_ct", sa.LargeBinary(), nullable=False),
        sa.Column("redacted_ct", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["profile_id"], ["profile.id"]),
        sa.PrimaryKeyConstraint(*key),
        *unique,
        postgresql_partition_by="RANGE (occurred_at)" if partitioned else None,
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "event", columns, unique=False)


def _set_aside_old_table(old: str) -> None:
    """Rename the current event table to `old`, freeing the names of its indexes and constraints."""
    for name in INDEXES:
        op.drop_index(name, table_name="event")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("event_profile_id_fkey", "event", type_="foreignkey")
        if old == "event_unpartitioned":
            op.drop_constraint("uq_event_source_id", "event", type_="unique")
        op.execute(f"ALTER TABLE event RENAME CONSTRAINT event_pkey TO {old}_pkey")
    op.rename_table("event", old)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _set_aside_old_table("event_unpartitioned")
    _event_table(partitioned=True)
    if postgres:
        op.execute("CREATE TABLE event_default PARTITION OF event DEFAULT")
        for function in (CREATE_PARTITION, DROP_PARTITION):
            op.execute(function)
        for function in FUNCTIONS:  # PostgreSQL lets anyone run a new function; only the owner and granted roles
            op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(MONTHS)
    op.execute(f"INSERT INTO event ({COLUMNS}) SELECT {COLUMNS} FROM event_unpartitioned")
    op.drop_table("event_unpartitioned")
    op.create_table(
        "event_key",
        sa.Column("source", _str(length=64), nullable=False),
        sa.Column("source_event_id", _str(length=200), nullable=False),
        sa.Column("event_id", _str(length=36), nullable=False),
        sa.Column("profile_id", _str(length=36), nullable=False),
        sa.ForeignKeyConstraint(["profile_id"], ["profile.id"]),
        sa.PrimaryKeyConstraint("source", "source_event_id"),
        sa.UniqueConstraint("event_id"),
    )
    op.execute(
        "INSERT INTO event_key (source, source_event_id, event_id, profile_id) "
        "SELECT source, source_event_id, id, profile_id FROM event"
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_table("event_key")
    _set_aside_old_table("event_partitioned")
    _event_table(partitioned=False)
    op.execute(f"INSERT INTO event ({COLUMNS}) SELECT {COLUMNS} FROM event_partitioned")
    op.drop_table("event_partitioned")  # its partitions go with it
    if postgres:
        for function in FUNCTIONS:
            op.execute(f"DROP FUNCTION {function}")
