"""drop the index on event.type alone

A few distinct values make it useless for selection, and SQLite (no statistics) preferred it to
ix_event_profile_time for "these customers' orders": every ingest batch's traits refresh scanned every order in
the store, so ingest slowed as the store grew. Look-ups by customer use ix_event_profile_time; time ranges use
ix_event_occurred_at.

Revision ID: 0013
Revises: 0007
Create Date: 2026-11-30 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_event_type", table_name="event")


def downgrade() -> None:
    op.create_index("ix_event_type", "event", ["type"], unique=False)
