"""identity decisions: keep-apart pairs, decided and suggested review items, shared-value counters, merge reasons

Revision ID: 0006
Revises: 0010
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "keep_apart",
        sa.Column("id", _text(length=36), nullable=False),
        sa.Column("profile_a", _text(length=36), nullable=False),
        sa.Column("profile_b", _text(length=36), nullable=False),
        sa.Column("decided_by", _text(length=64), nullable=False),
        sa.Column("reason", _text(length=500), nullable=False),
        sa.Column("review_item_id", _text(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["profile_a"], ["profile.id"]),
        sa.ForeignKeyConstraint(["profile_b"], ["profile.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("profile_a", "profile_b", name="uq_keep_apart_pair"),
    )
    with op.batch_alter_table("keep_apart", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_keep_apart_profile_a"), ["profile_a"], unique=False)
        batch_op.create_index(batch_op.f("ix_keep_apart_profile_b"), ["profile_b"], unique=False)

    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", _text(length=16), nullable=False, server_default="rule"))
        batch_op.add_column(sa.Column("probability", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("explanation", _text(length=2000), nullable=True))
        batch_op.add_column(sa.Column("decided_by", _text(length=64), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decision_reason", _text(length=500), nullable=True))
        batch_op.create_index(batch_op.f("ix_review_item_profile_ids"), ["profile_ids"], unique=False)

    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unrelated_links", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("merge_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", _text(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("merge_record", schema=None) as batch_op:
        batch_op.drop_column("reason")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_column("unrelated_links")
    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_item_profile_ids"))
        for column in ("decision_reason", "decided_at", "decided_by", "explanation", "probability", "origin"):
            batch_op.drop_column(column)
    with op.batch_alter_table("keep_apart", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_keep_apart_profile_b"))
        batch_op.drop_index(batch_op.f("ix_keep_apart_profile_a"))
    op.drop_table("keep_apart")
