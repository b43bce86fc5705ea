"""Identifier normalization and the per-kind rules of policies/identity.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import phonenumbers
import yaml

RULES_FILE = Path(__file__).resolve().parents[2] / "policies" / "identity.yaml"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
_SHOPIFY_GID = re.compile(r"^gid://shopify/Customer/(\d+)$")
_REPEATED = re.compile(r"^\+?(.)\1*$")
MAX_IDENTIFIER_LENGTH = 200


class InvalidIdentifier(ValueError):
    """An identifier that cannot be normalized; the message names the kind and the reason, never the value."""


@dataclass(frozen=True)
class KindRule:
    kind: str
    limit: int
    unique: bool
    blocked: frozenset[str]


@lru_cache(maxsize=1)
def rules() -> dict[str, KindRule]:
    data = yaml.safe_load(RULES_FILE.read_text())
    return {
        kind: KindRule(kind, int(spec["limit"]), bool(spec["unique"]), frozenset(spec.get("blocked", [])))
        for kind, spec in data["kinds"].items()
    }


def normalize(kind: str, value: object, country: str | None = None) -> str:
    """The canonical form used for blind indexing: equal identifiers normalize equal."""
    known = rules()
    if kind not in known:
        raise InvalidIdentifier(f"identifiers: unknown identifier kind; expected one of {', '.join(sorted(known))}")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidIdentifier(f"{kind}: expected a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise InvalidIdentifier(f"{kind}: empty value")
    if len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidIdentifier(f"{kind}: longer than {MAX_IDENTIFIER_LENGTH} characters")
    if kind == "email":
        text = text.lower()
        if not _EMAIL.match(text):
            raise InvalidIdentifier("email: not a valid address (expected local@domain.tld)")
        return text
    if kind == "phone":
        return _normalize_phone(text, country)
    if kind == "shopify_customer_id":
        gid = _SHOPIFY_GID.match(text)
        return gid.group(1) if gid else text
    return text


@lru_cache(maxsize=50_000)  # parsing dominates ingest; the same customer's number recurs across events
def _normalize_phone(text: str, country: str | None) -> str:
    region = (country or "").upper() or None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        where = f" for country {region}" if region else " (no country given: use +<country code>)"
        raise InvalidIdentifier(f"phone: cannot be parsed{where}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier(f"phone: not a valid number{' for ' + region if region else ''}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_blocked(kind: str, normalized: str) -> bool:
    return (
        normalized in rules()[kind].blocked
        or normalized.lower() in rules()[kind].blocked
        or bool(_REPEATED.match(normalized))
    )
