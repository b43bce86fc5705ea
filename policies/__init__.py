"""Policy data (casbin model + rules, purposes, data dictionary) and the gate's decision core.

Layering: may import `consent` and `audit`, never `cdp`.
"""

from policies.dictionary import (
    FieldSpec,
    all_categories,
    category_of_event,
    category_of_identifier,
    category_of_trait,
)
from policies.errors import (
    AccessDenied,
    PolicyFileError,
    UnknownField,
    UnknownJurisdiction,
    UnknownPurpose,
    UnknownRole,
)
from policies.gate import ACTIONS, Grants, PolicyGate
from policies.purposes import Purpose, requires_consent, sale_or_sharing_purposes

__all__ = [
    "ACTIONS",
    "AccessDenied",
    "FieldSpec",
    "Grants",
    "PolicyFileError",
    "PolicyGate",
    "Purpose",
    "UnknownField",
    "UnknownJurisdiction",
    "UnknownPurpose",
    "UnknownRole",
    "all_categories",
    "category_of_event",
    "category_of_identifier",
    "category_of_trait",
    "requires_consent",
    "sale_or_sharing_purposes",
]
