"""policies/retention.yaml, parsed: retention periods per data category and the legal holds of erasure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

from cdp.dates import add_months

RETENTION_FILE = Path(__file__).resolve().parents[2] / "policies" / "retention.yaml"
_UNITS = {"days", "months", "years"}


@dataclass(frozen=True)
class RetentionRule:
    category: str
    amount: int
    unit: str  # days | months | years
    basis: str

    def cutoff(self, today: date) -> date:
        """Events that happened before this date have expired."""
        if self.unit == "days":
            return today - timedelta(days=self.amount)
        return add_months(today, -self.amount * (12 if self.unit == "years" else 1))

    def describe(self) -> str:
        return f"{self.amount} {self.unit} after the event ({self.basis})"


@dataclass(frozen=True)
class LegalHoldRule:
    event_types: frozenset[str]
    basis: str


@dataclass(frozen=True)
class RetentionPolicy:
    rules: dict[str, RetentionRule]
    holds: list[LegalHoldRule]

    def hold_for(self, event_type: str) -> LegalHoldRule | None:
        return next((h for h in self.holds if event_type in h.event_types), None)


@lru_cache(maxsize=1)
def retention_policy() -> RetentionPolicy:
    doc = yaml.safe_load(RETENTION_FILE.read_text(encoding="utf-8"))
    rules = {}
    for category, spec in (doc.get("categories") or {}).items():
        keep = spec["keep"]
        if len(keep) != 1 or set(keep) - _UNITS:
            raise ValueError(f"{RETENTION_FILE}: {category}.keep must be one of {{days|months|years: n}}")
        [(unit, amount)] = keep.items()
        rules[category] = RetentionRule(category, int(amount), unit, spec.get("basis", ""))
    holds = [LegalHoldRule(frozenset(h["event_types"]), h["basis"]) for h in doc.get("legal_holds") or []]
    return RetentionPolicy(rules, holds)


_HOLD_NAMESPACE = uuid.UUID("5b7c2f0e-8d1a-4c55-9a57-2f0f4c1e6a11")


def hold_key_owner(profile_id: str) -> str:
    """The key-store owner id of a profile's legal-hold key: not the profile id, so shredding the profile's
    keys leaves it alone; a UUID, so it fits the key store's column."""
    return str(uuid.uuid5(_HOLD_NAMESPACE, profile_id))
