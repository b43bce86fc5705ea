"""The incoming event format, validated before anything is stored.

Error messages name the field and the rule, never the value: inputs are personal data.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from cdp.dictionary import dictionary
from cdp.settings import get_settings

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# An email address anywhere in a value (source_event_id is stored in plaintext, so it must not carry one).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Deeper JSON than any real event needs; bounded so that recursive walks over it cannot exhaust the stack.
MAX_NESTING = 32


class InvalidEvent(ValueError):
    """The event breaks the format; `problems` lists each as 'field: reason'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


# Text a person wrote: analyzed for PII at ingest, stored with a redacted copy (event.redacted_ct) that is what
# reads serve unless the role and purpose also hold the unredacted-free-text category.
FREE_TEXT: dict[str, frozenset[str]] = {
    "ticket": frozenset({"subject", "body"}),
    "review": frozenset({"text"}),
}


class IncomingEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    source_event_id: str = Field(min_length=1, max_length=200)
    type: str
    occurred_at: AwareDatetime
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    identifiers: dict[str, str] = Field(min_length=1)
    traits: dict[str, Any] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        types = dictionary().events
        if value not in types:
            raise ValueError(f"unknown event type; expected one of {', '.join(types)}")
        return value

    @field_validator("source_event_id")
    @classmethod
    def _not_personal(cls, value: str) -> str:
        """Refused, not hashed: the id is stored in plaintext for idempotency, and a hash of an address is
        still a pseudonym of its owner. Bare digit runs stay allowed: they are how order ids look."""
        if _EMAIL.search(value) or phonenumbers.PhoneNumberMatcher(value, None).has_next():
            raise ValueError(
                "looks like personal data (an email address or an international phone number); "
                "use the source system's own event id"
            )
        return value

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("identifiers")
    @classmethod
    def _identifier_kinds(cls, value: dict[str, str]) -> dict[str, str]:
        kinds = dictionary().identifiers
        unknown = sorted(_key(k) for k in set(value) - set(kinds))
        if unknown:
            raise ValueError(f"unknown identifier kind(s) {', '.join(unknown)}; expected {', '.join(kinds)}")
        return value

    @field_validator("traits")
    @classmethod
    def _trait_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = sum(1 for k in value if not _NAME.match(k))
        if bad:
            raise ValueError(f"trait names must be snake_case identifiers ({bad} are not)")
        nested = sorted(k for k, v in value.items() if not isinstance(v, str | int | float | bool | None))
        if nested:
            raise ValueError(
                f"trait(s) {', '.join(nested)} must be a string, number, boolean or null "
                "(flatten objects, e.g. address -> address_line1, city, postal_code)"
            )
        if "birthday" in value and value["birthday"] is not None:
            try:
                date.fromisoformat(str(value["birthday"]))
            except ValueError:
                raise ValueError("birthday must be an ISO date (YYYY-MM-DD)") from None
        return value

    @property
    def occurred_at_utc_offset_minutes(self) -> int:
        offset = self.occurred_at.utcoffset()
        return int(offset.total_seconds() // 60) if offset else 0


def parse_event(raw: object) -> IncomingEvent:
    if not isinstance(raw, dict):
        raise InvalidEvent([f"event: expected a JSON object, got {type(raw).__name__}"])
    problems = _size_problems(raw, get_settings().max_text_chars)
    if problems:
        raise InvalidEvent(problems)
    try:
        return IncomingEvent.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent([_describe(err) for err in exc.errors(include_input=False, include_url=False)]) from None


def _size_problems(raw: dict[str, Any], max_chars: int) -> list[str]:
    """Strings longer than `max_chars` and nesting deeper than MAX_NESTING, by path; checked before anything
    else looks at the event (without recursion, so any depth is safe to check). Paths are kept as key tuples
    and written out only for a problem: every event is checked, almost none has one."""
    problems: list[str] = []
    todo: list[tuple[tuple[object, ...], object]] = [((k,), v) for k, v in raw.items()]
    while todo and len(problems) < 10:
        path, value = todo.pop()
        if isinstance(value, str):
            if len(value) > max_chars:
                limit = f"{max_chars} characters (the limit CDP_MAX_TEXT_CHARS)"
                problems.append(f"{_path(path)}: text longer than {limit}")
        elif isinstance(value, dict | list) and len(path) >= MAX_NESTING:
            problems.append(f"{_path(path)}: nested deeper than {MAX_NESTING} levels")
        elif isinstance(value, dict):
            todo.extend(((*path, k), v) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend(((*path, i), v) for i, v in enumerate(value))
    return sorted(problems)


def _path(keys: tuple[object, ...]) -> str:
    return ".".join([str(keys[0]), *(str(k) if isinstance(k, int) else _key(k) for k in keys[1:])])


def _key(name: object) -> str:
    """A JSON key in an error path, unless it could itself be personal data ({"anna@example.com": ...})."""
    text = str(name)
    return text if _NAME.match(text) else "<key>"


def _describe(err: ErrorDetails) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "event"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = (
            "unknown field (allowed: source, source_event_id, type, occurred_at, country, identifiers, "
            "traits, properties)"
        )
    return f"{where}: {message}"
