"""data-subject requests, suppression list, legal holds, downstream outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 11:09:45.997037
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dsr_destination",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "suppression",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("blind_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "blind_index", name="uq_suppression_kind_blind_index"),
    )
    op.create_table(
        "dsr_outbox",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("destination_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["dsr_destination.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("dsr_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dsr_outbox_destination_id"), ["destination_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dsr_outbox_status"), ["status"], unique=False)

    op.create_table(
        "dsr_request",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("profile_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("subject_kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("subject_index", sa.LargeBinary(length=32), nullable=True),
        sa.Column("jurisdiction", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("shop_domain", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("original_due_on", sa.Date(), nullable=False),
        sa.Column("extension_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("extended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verification_method", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refusal_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_ref"),
    )
    with op.batch_alter_table("dsr_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dsr_request_due_on"), ["due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_dsr_request_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_dsr_request_profile_id"), ["profile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dsr_request_status"), ["status"], unique=False)

    op.create_table(
        "legal_hold",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("profile_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("basis", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legal_hold", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_hold_profile_id"), ["profile_id"], unique=False)

    op.create_table(
        "dsr_verification",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["dsr_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dsr_verification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dsr_verification_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dsr_verification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dsr_verification_request_id"))

    op.drop_table("dsr_verification")
    with op.batch_alter_table("legal_hold", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_hold_profile_id"))

    op.drop_table("legal_hold")
    with op.batch_alter_table("dsr_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dsr_request_status"))
        batch_op.drop_index(batch_op.f("ix_dsr_request_profile_id"))
        batch_op.drop_index(batch_op.f("ix_dsr_request_kind"))
        batch_op.drop_index(batch_op.f("ix_dsr_request_due_on"))

    op.drop_table("dsr_request")
    with op.batch_alter_table("dsr_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dsr_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_dsr_outbox_destination_id"))

    op.drop_table("dsr_outbox")
    op.drop_table("suppression")
    op.drop_table("dsr_destination")
