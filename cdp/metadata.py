"""One metadata for every package's tables: what alembic migrates and what tests compare against."""

from sqlmodel import SQLModel

import cdp.auth.models
import cdp.events.models
import cdp.identity.models
import cdp.profiles.models  # noqa: F401 - imported for their tables

metadata = SQLModel.metadata
