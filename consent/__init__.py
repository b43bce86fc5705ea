"""Consent ledger: append-only records per (profile, purpose), current state, jurisdiction defaults, GPC.

Knows nothing of `cdp`; functions take the caller's Session and never commit.
"""

from consent.errors import ConsentError
from consent.jurisdiction import JURISDICTIONS, default_mode, is_permitted, jurisdiction_for
from consent.ledger import (
    LEGAL_BASES,
    SOURCES,
    STATUSES,
    current_state,
    current_states,
    history,
    latest_by_group,
    record,
    record_gpc_opt_out,
)
from consent.models import ConsentRecord

__all__ = [
    "JURISDICTIONS",
    "LEGAL_BASES",
    "SOURCES",
    "STATUSES",
    "ConsentError",
    "ConsentRecord",
    "current_state",
    "current_states",
    "default_mode",
    "history",
    "is_permitted",
    "jurisdiction_for",
    "latest_by_group",
    "record",
    "record_gpc_opt_out",
]
