"""Deadlines of data-subject requests: pure date arithmetic over the rules in policies/dsr.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

from cdp.dates import add_months

RULES_FILE = Path(__file__).resolve().parents[2] / "policies" / "dsr.yaml"


class DeadlineError(ValueError):
    """An extension the rules do not allow; the message says which rule."""


@dataclass(frozen=True)
class Period:
    months: int = 0
    days: int = 0

    def after(self, start: date) -> date:
        return add_months(start, self.months) + timedelta(days=self.days)

    def covers(self, other: Period) -> bool:
        """Is `other` no longer than this period? Only like units compare."""
        if (self.months and other.days) or (self.days and other.months):
            return False
        return other.months <= self.months and other.days <= self.days

    def __str__(self) -> str:
        return f"{self.months} month(s)" if self.months else f"{self.days} day(s)"


@dataclass(frozen=True)
class DeadlineRule:
    jurisdiction: str
    law: str
    period: Period
    extension: Period | None
    max_extensions: int


def _period(spec: dict) -> Period:
    unknown = set(spec) - {"months", "days"}
    if unknown or len(spec) != 1:
        raise ValueError(f"{RULES_FILE}: a period is {{months: n}} or {{days: n}}, got {spec}")
    return Period(months=int(spec.get("months", 0)), days=int(spec.get("days", 0)))


@lru_cache(maxsize=1)
def rules() -> dict[str, DeadlineRule]:
    doc = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    result = {}
    for code, spec in doc["deadlines"].items():
        extension = _period(spec["extension"]) if "extension" in spec else None
        result[code] = DeadlineRule(
            code, spec["law"], _period(spec["period"]), extension, int(spec.get("max_extensions", 0))
        )
    return result


def rule_for(jurisdiction: str) -> DeadlineRule:
    return rules().get(jurisdiction) or rules()["OTHER"]


def due_date(jurisdiction: str, received: date) -> date:
    return rule_for(jurisdiction).period.after(received)


def extended_due_date(
    jurisdiction: str, *, original_due: date, today: date, extension: Period, reason: str, extensions_so_far: int
) -> date:
    """The new due date after an extension, or DeadlineError when the rules refuse it: no reason given,
    asked after the original deadline, longer than allowed, or one extension too many."""
    rule = rule_for(jurisdiction)
    if not reason.strip():
        raise DeadlineError("an extension needs a reason recorded with it")
    if rule.extension is None or extensions_so_far >= rule.max_extensions:
        raise DeadlineError(f"{rule.law}: no (further) extension allowed")
    if today > original_due:
        raise DeadlineError(f"an extension must be recorded on or before the original due date {original_due}")
    if not rule.extension.covers(extension) or extension == Period():
        raise DeadlineError(f"{rule.law}: an extension is at most {rule.extension}")
    return extension.after(original_due)
