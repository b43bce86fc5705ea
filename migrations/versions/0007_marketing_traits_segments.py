"""computed traits, trait model, segments and segment membership (marketing)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 11:47:07.255080
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "segment",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="uq_segment_name_version"),
    )
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_segment_name"), ["name"], unique=False)

    op.create_table(
        "trait_model",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trait_model", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trait_model_fitted_at"), ["fitted_at"], unique=False)

    op.create_table(
        "computed_trait",
        sa.Column("profile_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("r_score", sa.Integer(), nullable=True),
        sa.Column("f_score", sa.Integer(), nullable=True),
        sa.Column("m_score", sa.Integer(), nullable=True),
        sa.Column("clv_tier", sa.Integer(), nullable=True),
        sa.Column("lifecycle_stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("birth_month", sa.Integer(), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("cohort_month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=True),
        sa.Column("values_ct", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
        ),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    with op.batch_alter_table("computed_trait", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_computed_trait_clv_tier"), ["clv_tier"], unique=False)
        batch_op.create_index(batch_op.f("ix_computed_trait_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_computed_trait_f_score"), ["f_score"], unique=False)
        batch_op.create_index(batch_op.f("ix_computed_trait_language"), ["language"], unique=False)
        batch_op.create_index(batch_op.f("ix_computed_trait_lifecycle_stage"), ["lifecycle_stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_computed_trait_m_score"), ["m_score"], unique=False)
        batch_op.create_index(batch_op.f("ix_computed_trait_order_count"), ["order_count"], unique=False)
        batch_op.create_index(batch_op.f("ix_computed_trait_r_score"), ["r_score"], unique=False)
        batch_op.create_index(batch_op.f("ix_computed_trait_utc_offset_minutes"), ["utc_offset_minutes"], unique=False)

    op.create_table(
        "segment_membership",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("segment_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("profile_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("segment_membership", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_segment_membership_entered_at"), ["entered_at"], unique=False)
        batch_op.create_index("ix_segment_membership_open", ["segment_name", "exited_at", "profile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_segment_membership_profile_id"), ["profile_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("segment_membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_membership_profile_id"))
        batch_op.drop_index("ix_segment_membership_open")
        batch_op.drop_index(batch_op.f("ix_segment_membership_entered_at"))

    op.drop_table("segment_membership")
    with op.batch_alter_table("computed_trait", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_computed_trait_utc_offset_minutes"))
        batch_op.drop_index(batch_op.f("ix_computed_trait_r_score"))
        batch_op.drop_index(batch_op.f("ix_computed_trait_order_count"))
        batch_op.drop_index(batch_op.f("ix_computed_trait_m_score"))
        batch_op.drop_index(batch_op.f("ix_computed_trait_lifecycle_stage"))
        batch_op.drop_index(batch_op.f("ix_computed_trait_language"))
        batch_op.drop_index(batch_op.f("ix_computed_trait_f_score"))
        batch_op.drop_index(batch_op.f("ix_computed_trait_country"))
        batch_op.drop_index(batch_op.f("ix_computed_trait_clv_tier"))

    op.drop_table("computed_trait")
    with op.batch_alter_table("trait_model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trait_model_fitted_at"))

    op.drop_table("trait_model")
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_name"))

    op.drop_table("segment")
