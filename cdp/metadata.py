"""One metadata for every package's tables: what alembic migrates and what tests compare against."""

from sqlmodel import SQLModel

import consent.models  # noqa: F401 - imported for their tables

metadata = SQLModel.metadata
