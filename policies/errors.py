"""Errors raised by the policies package.

All are ValueError/LookupError subclasses with messages fit to show a caller as-is: they name the file, key,
role, purpose or category at fault and never carry personal data.
"""

from __future__ import annotations


class PolicyFileError(ValueError):
    """A policy data file (model.conf, policy.csv, purposes.yaml, fields.yaml) is missing or invalid."""


class UnknownPurpose(LookupError):
    """A purpose name that purposes.yaml does not declare."""


class UnknownJurisdiction(LookupError):
    """A jurisdiction code that purposes.yaml does not list."""


class UnknownRole(LookupError):
    """A role that no rule in policy.csv names."""


class UnknownField(LookupError):
    """An identifier kind or event type that fields.yaml does not declare."""


class AccessDenied(Exception):
    """The gate's refusal: (role, purpose) may not do (action) on (category)."""

    def __init__(self, role: str, purpose: str, action: str, category: str, field: str | None = None) -> None:
        self.role = role
        self.purpose = purpose
        self.action = action
        self.category = category
        self.field = field
        what = f"field '{field}' (category '{category}')" if field else f"category '{category}'"
        super().__init__(
            f"access denied: role '{role}' may not {action} {what} for purpose '{purpose}'; "
            f"missing grant ({role}, {purpose}, {category}, {action})"
        )
