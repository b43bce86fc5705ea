"""The principals activation acts as: the trigger engine deciding, and each destination receiving."""

from __future__ import annotations

from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.outbox.models import Destination

TRIGGER_ENGINE = Principal("worker:triggers", "trigger engine", "trigger_engine")


def trigger_access(purpose: str) -> AccessContext:
    return AccessContext.for_principal(TRIGGER_ENGINE, purpose)


def destination_access(destination: Destination) -> AccessContext:
    """A destination is a principal of role `destination` acting for the one purpose it declared."""
    return AccessContext.for_principal(
        Principal(f"destination:{destination.id}", destination.name, "destination"), destination.purpose
    )
