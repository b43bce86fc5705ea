"""events: one (profile_id, occurred_at, id) index for a customer's pages, replacing the profile_id index

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-30 12:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_profile_time", ["profile_id", "occurred_at", "id"], unique=False)
        batch_op.drop_index(batch_op.f("ix_event_profile_id"))


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_profile_id"), ["profile_id"], unique=False)
        batch_op.drop_index("ix_event_profile_time")
