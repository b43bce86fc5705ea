"""trait_refresh: customers whose computed traits wait for a refresh (queued by imports, drained at the end of
the import and by the worker), so a customer touched by many import batches is refreshed once

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trait_refresh",
        sa.Column("profile_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("marks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("profile_id"),
    )


def downgrade() -> None:
    op.drop_table("trait_refresh")
