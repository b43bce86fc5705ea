"""The segment condition language: parse a definition (YAML or JSON), name its data categories, compile it
to a SQLAlchemy Core condition over the live customers.

    name: high-value-eu-email
    description: High-value EU customers
    where:
      all:
        - {field: m_score, op: gte, value: 4}
        - {field: jurisdiction, op: eq, value: EU}
        - {consent: marketing.email}
        - {events: {type: order, within_days: 90, min: 1}}
        - not: {field: lifecycle_stage, op: in, value: [churned]}

Nodes: `all` / `any` (non-empty lists), `not`, a field comparison (ops eq, ne, in, not_in, gt, gte, lt, lte;
birth_month also takes the value `current_month`), an event count of one type in the last N days (min and/or
max), and `consent: PURPOSE` (permitted now, by the gate's rules). Errors name the path and the rule, never
the value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import yaml
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true
from sqlalchemy.sql import Select
from sqlmodel import col

from cdp.access.gate import policy_gate
from cdp.categories import event_category, event_types
from cdp.dictionary import dictionary
from cdp.events.models import Event
from cdp.identity.models import Profile
from cdp.traits.models import ComputedTrait
from cdp.traits.scoring import STAGES

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
OPS = {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte"}
INT_FIELDS = {"order_count": (0, 10**9), "r_score": (1, 5), "f_score": (1, 5), "m_score": (1, 5),
              "clv_tier": (1, 5), "birth_month": (1, 12), "utc_offset_minutes": (-720, 840)}  # fmt: skip
TEXT_FIELDS = {"lifecycle_stage", "country", "language", "currency", "channel", "cohort_month"}
CONSENT_CATEGORY = "user.consent"


class SegmentError(ValueError):
    """A definition that breaks a rule of the language; the message names where and which rule."""


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    description: str
    where: dict[str, Any]

    def canonical(self) -> str:
        return json.dumps(self.where, sort_keys=True, separators=(",", ":"))


def parse_text(text: str) -> SegmentSpec:
    """A segment file (YAML, which includes JSON)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SegmentError(f"segment file is not valid YAML/JSON ({type(exc).__name__})") from None
    return parse(doc)


def parse(doc: Any) -> SegmentSpec:
    if not isinstance(doc, dict):
        raise SegmentError("a segment is a mapping with name, where and an optional description")
    unknown = set(doc) - {"name", "description", "where"}
    if unknown:
        raise SegmentError(f"unknown keys {sorted(unknown)} (expected name, description, where)")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SegmentError("name: lower-case letters, digits, '-', '_' or '.', at most 100 characters")
    description = doc.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        raise SegmentError("description: text of at most 500 characters")
    return SegmentSpec(name, description, _check(doc.get("where"), "where"))


def _check(node: Any, path: str) -> dict[str, Any]:
    """The condition `node`, once checked."""
    if not isinstance(node, dict) or len(node) != 1 and "field" not in node:
        raise SegmentError(f"{path}: expected one of all, any, not, field, events, consent")
    if "field" in node:
        _check_field(node, path)
        return node
    ((key, body),) = node.items()
    if key in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise SegmentError(f"{path}.{key}: a non-empty list of conditions")
        for i, child in enumerate(body):
            _check(child, f"{path}.{key}[{i}]")
    elif key == "not":
        _check(body, f"{path}.not")
    elif key == "events":
        _check_events(body, f"{path}.events")
    elif key == "consent":
        if not isinstance(body, str) or not body:
            raise SegmentError(f"{path}.consent: a purpose name like marketing.email")
        if body not in policy_gate().purposes.names():
            raise SegmentError(f"{path}.consent: not a purpose of policies/purposes.yaml")
    else:
        raise SegmentError(f"{path}: unknown condition {key!r} (expected all, any, not, field, events, consent)")
    return node


def _check_field(node: dict[str, Any], path: str) -> None:
    if set(node) != {"field", "op", "value"}:
        raise SegmentError(f"{path}: a field condition has exactly field, op and value")
    field, op, value = node["field"], node["op"], node["value"]
    if field != "jurisdiction" and field not in INT_FIELDS and field not in TEXT_FIELDS:
        known = sorted({"jurisdiction", *INT_FIELDS, *TEXT_FIELDS})
        raise SegmentError(f"{path}.field: unknown field; fields: {', '.join(known)}")
    if op not in OPS:
        raise SegmentError(f"{path}.op: one of {', '.join(sorted(OPS))}")
    values = value if op in ("in", "not_in") else [value]
    if op in ("in", "not_in") and (not isinstance(value, list) or not value):
        raise SegmentError(f"{path}.value: op {op} takes a non-empty list")
    for v in values:
        if field == "birth_month" and v == "current_month":
            continue
        if field in INT_FIELDS:
            low, high = INT_FIELDS[field]
            if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
                raise SegmentError(f"{path}.value: {field} takes whole numbers from {low} to {high}")
        elif not isinstance(v, str) or not v or len(v) > 64:
            raise SegmentError(f"{path}.value: {field} takes text of 1 to 64 characters")
        elif field == "lifecycle_stage" and v not in STAGES:
            raise SegmentError(f"{path}.value: lifecycle_stage is one of {', '.join(STAGES)}")


def _check_events(body: Any, path: str) -> None:
    if not isinstance(body, dict) or not set(body) <= {"type", "within_days", "min", "max"}:
        raise SegmentError(f"{path}: a mapping of type, within_days and min and/or max")
    if body.get("type") not in event_types():
        raise SegmentError(f"{path}.type: one of {', '.join(event_types())}")
    days = body.get("within_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
        raise SegmentError(f"{path}.within_days: a whole number of days from 1 to 3650")
    bounds = [body[k] for k in ("min", "max") if k in body]
    if not bounds or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in bounds):
        raise SegmentError(f"{path}: min and/or max, whole numbers from 0")


def categories(where: dict[str, Any]) -> list[str]:
    """The data categories a definition selects on: who may evaluate or read it must hold them."""
    found: dict[str, None] = {}

    def walk(node: dict[str, Any]) -> None:
        if "field" in node:
            if node["field"] != "jurisdiction":
                found[dictionary().computed[node["field"]].category] = None
            return
        ((key, body),) = node.items()
        if key in ("all", "any"):
            for child in body:
                walk(child)
        elif key == "not":
            walk(body)
        elif key == "events":
            found[event_category(body["type"])] = None
        else:
            found[CONSENT_CATEGORY] = None

    walk(where)
    return list(found)


class Compiler:
    """Turns a definition into a condition on `Profile` (roots) outer-joined with `ComputedTrait`; event
    counts and consent become outer-joined per-group subqueries, added by `select_roots`."""

    def __init__(self, as_of: datetime, groups: Any, permitted: Any) -> None:
        self.as_of = as_of
        self.groups = groups  # CTE (group_id, profile_id)
        self.permitted = permitted  # purpose -> ColumnElement[bool] over Profile
        self.joins: list[Any] = []

    def condition(self, node: dict[str, Any]) -> ColumnElement[bool]:
        if "field" in node:
            return self._field(node["field"], node["op"], node["value"])
        ((key, body),) = node.items()
        if key == "all":
            return and_(true(), *(self.condition(c) for c in body))
        if key == "any":
            return or_(false(), *(self.condition(c) for c in body))
        if key == "not":
            return not_(self.condition(body))
        if key == "events":
            return self._events(body)
        return self.permitted(body)

    def _field(self, field: str, op: str, value: Any) -> ColumnElement[bool]:
        column = col(Profile.jurisdiction) if field == "jurisdiction" else col(getattr(ComputedTrait, field))
        if field == "birth_month":
            value = [self._month(v) for v in value] if isinstance(value, list) else self._month(value)
        if op in ("in", "not_in"):
            test = column.in_(value)
            return and_(column.is_not(None), test if op == "in" else not_(test))
        compare = {"eq": column == value, "ne": column != value, "gt": column > value, "gte": column >= value,
                   "lt": column < value, "lte": column <= value}[op]  # fmt: skip
        return and_(column.is_not(None), compare)

    def _month(self, value: Any) -> int:
        return self.as_of.month if value == "current_month" else int(value)

    def _events(self, body: dict[str, Any]) -> ColumnElement[bool]:
        since = self.as_of - timedelta(days=body["within_days"])
        counts = (
            select(self.groups.c.group_id, func.count().label("n"))
            .join(Event, col(Event.profile_id) == self.groups.c.profile_id)
            .where(
                col(Event.type) == body["type"], col(Event.occurred_at) >= since, col(Event.occurred_at) <= self.as_of
            )
            .group_by(self.groups.c.group_id)
            .subquery()
        )
        self.joins.append(counts)
        n = func.coalesce(counts.c.n, 0)
        return and_(
            true(), *([n >= body["min"]] if "min" in body else []), *([n <= body["max"]] if "max" in body else [])
        )


def select_roots(compiler: Compiler, where: dict[str, Any], live: ColumnElement[bool]) -> Select:
    """SELECT the root profile ids matching `where` among customers for which `live` holds."""
    condition = compiler.condition(where)
    query = (
        select(col(Profile.id))
        .select_from(Profile)
        .outerjoin(ComputedTrait, col(ComputedTrait.profile_id) == col(Profile.id))
    )
    for counts in compiler.joins:
        query = query.outerjoin(counts, counts.c.group_id == col(Profile.id))
    return query.where(col(Profile.merged_into).is_(None), live, condition)
