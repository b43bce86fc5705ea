"""profiles: one (merged_into, id) index for pages of customers, replacing the merged_into index

`profiles(first: N, after: ...)` reads roots (merged_into IS NULL) in id order after a cursor. With merged_into
alone indexed, SQLite found the roots through it and sorted all of them per page (a temporary B-tree over every
customer); with (merged_into, id) it reads the next N from the index in order. The composite still serves the
merge-group look-ups (merged_into IN ...).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_profile_merged_into_id", "profile", ["merged_into", "id"], unique=False)
    op.drop_index("ix_profile_merged_into", table_name="profile")


def downgrade() -> None:
    op.create_index("ix_profile_merged_into", "profile", ["merged_into"], unique=False)
    op.drop_index("ix_profile_merged_into_id", table_name="profile")
