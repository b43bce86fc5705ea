"""One metadata for every package's tables: what alembic migrates and what tests compare against."""

from sqlmodel import SQLModel

# Imported for their tables.
import cdp.activation.models  # noqa: F401
import cdp.auth.models  # noqa: F401
import cdp.auth.staff  # noqa: F401
import cdp.compliance.models  # noqa: F401
import cdp.dsr.models  # noqa: F401
import cdp.events.models  # noqa: F401
import cdp.identity.models  # noqa: F401
import cdp.ingest.sources  # noqa: F401
import cdp.outbox.models  # noqa: F401
import cdp.pii.discovered  # noqa: F401
import cdp.profiles.models  # noqa: F401
import cdp.segments.models  # noqa: F401
import cdp.traits.models  # noqa: F401
import consent.models  # noqa: F401

metadata = SQLModel.metadata
