"""console staff accounts and sessions; breach register (incident, incident_event), append-only

Revision ID: 0011
Revises: 0012
Create Date: 2026-11-30 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_APPEND_ONLY = ("incident", "incident_event")


def upgrade() -> None:
    op.create_table(
        "staff_account",
        sa.Column("id", _STR(length=36), nullable=False),
        sa.Column("email", _STR(length=254), nullable=False),
        sa.Column("role", _STR(length=32), nullable=False),
        sa.Column("password_hash", _STR(length=200), nullable=False),
        sa.Column("totp_secret", _STR(length=64), nullable=False),
        sa.Column("last_totp_step", sa.Integer(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "staff_session",
        sa.Column("id_hash", _STR(length=64), nullable=False),
        sa.Column("staff_id", _STR(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_account.id"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_staff_session_staff_id", "staff_session", ["staff_id"], unique=False)
    op.create_table(
        "incident",
        sa.Column("id", _STR(length=36), nullable=False),
        sa.Column("title", _STR(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("regulator_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", _STR(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_regulator_due_at", "incident", ["regulator_due_at"], unique=False)
    op.create_table(
        "incident_event",
        sa.Column("id", _STR(length=36), nullable=False),
        sa.Column("incident_id", _STR(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", _STR(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", _STR(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "seq", name="uq_incident_event_seq"),
    )
    op.create_index("ix_incident_event_incident_id", "incident_event", ["incident_id"], unique=False)
    # The breach register is append-only, like the audit log: the database refuses UPDATE and DELETE.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION cdp_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only: add a new row instead', TG_TABLE_NAME; END $$"
        )
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION cdp_refuse_change()"
            )
    else:
        for table in _APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: add a new row instead'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS cdp_refuse_change()")
    else:
        for table in _APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
    op.drop_index("ix_incident_event_incident_id", table_name="incident_event")
    op.drop_table("incident_event")
    op.drop_index("ix_incident_regulator_due_at", table_name="incident")
    op.drop_table("incident")
    op.drop_index("ix_staff_session_staff_id", table_name="staff_session")
    op.drop_table("staff_session")
    op.drop_table("staff_account")
