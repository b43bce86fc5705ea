"""pii discovered fields, leak scan results, redacted free text of events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:12:36.883530
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discovered_field",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("entity_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("occurrences", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("location", "entity_type", name="uq_discovered_field_location_entity"),
    )
    with op.batch_alter_table("discovered_field", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_discovered_field_last_seen"), ["last_seen"], unique=False)

    op.create_table(
        "pii_scan",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finding_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pii_scan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pii_scan_started_at"), ["started_at"], unique=False)

    op.create_table(
        "pii_scan_finding",
        sa.Column("scan_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("table_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("column_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("row_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("entity_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["scan_id"], ["pii_scan.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("scan_id", "seq"),
    )

    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redacted_ct", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_column("redacted_ct")

    op.drop_table("pii_scan_finding")
    with op.batch_alter_table("pii_scan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pii_scan_started_at"))
    op.drop_table("pii_scan")

    with op.batch_alter_table("discovered_field", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_discovered_field_last_seen"))
    op.drop_table("discovered_field")
