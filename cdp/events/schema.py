"""The incoming event format, validated before anything is stored.

Error messages name the field and the rule, never the value: inputs are personal data.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from cdp.dictionary import dictionary

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


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

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("identifiers")
    @classmethod
    def _identifier_kinds(cls, value: dict[str, str]) -> dict[str, str]:
        kinds = dictionary().identifiers
        unknown = sorted(set(value) - set(kinds))
        if unknown:
            raise ValueError(f"unknown identifier kind(s) {unknown}; expected {', '.join(kinds)}")
        return value

    @field_validator("traits")
    @classmethod
    def _trait_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = sorted(k for k in value if not _NAME.match(k))
        if bad:
            raise ValueError(f"trait names must be snake_case identifiers: {bad}")
        nested = sorted(k for k, v in value.items() if not isinstance(v, str | int | float | bool | None))
        if nested:
            raise ValueError(
                f"trait(s) {nested} must be a string, number, boolean or null "
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
    try:
        return IncomingEvent.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent([_describe(err) for err in exc.errors(include_input=False, include_url=False)]) from None


def _describe(err: ErrorDetails) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "event"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = (
            "unknown field (allowed: source, source_event_id, type, occurred_at, country, identifiers, "
            "traits, properties)"
        )
    return f"{where}: {message}"
