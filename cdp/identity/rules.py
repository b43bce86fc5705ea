"""Identifier normalization and the rules of policies/identity.yaml.

`normalize` turns an identifier into the canonical form that is blind-indexed (equal identifiers normalize
equal); `placeholder_reason` says why a normalized value must never link anything. Errors and reasons name
the kind and the rule, never the value.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
import yaml

RULES_FILE = Path(__file__).resolve().parents[2] / "policies" / "identity.yaml"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
_SHOPIFY_GID = re.compile(r"^gid://shopify/Customer/(\d+)$")
_REPEATED = re.compile(r"^\+?(.)\1*$")
_RUN_UP = "01234567890"
MAX_IDENTIFIER_LENGTH = 200
MIN_SEQUENCE = 6  # national numbers shorter than this are not judged as runs


class InvalidIdentifier(ValueError):
    """An identifier that cannot be normalized; the message names the kind and the reason, never the value."""


@dataclass(frozen=True)
class KindRule:
    kind: str
    limit: int
    unique: bool
    strong: bool
    blocked: frozenset[str]


@dataclass(frozen=True)
class EmailProvider:
    domains: frozenset[str]
    canonical_domain: str | None
    ignore_dots: bool
    plus_tags: bool


@dataclass(frozen=True)
class EmailRules:
    providers: dict[str, EmailProvider]  # domain -> provider
    placeholder_local_parts: frozenset[str]
    placeholder_domains: frozenset[str]
    placeholder_domain_suffixes: tuple[str, ...]
    block_local_equals_domain: bool
    relay_domains: tuple[str, ...]


@dataclass(frozen=True)
class AutoMerge:
    enabled: bool
    min_probability: float
    min_agreeing_strong_fields: int


@dataclass(frozen=True)
class IdentityRules:
    kinds: dict[str, KindRule]
    email: EmailRules
    international_prefixes: tuple[str, ...]
    block_sequences: bool
    max_unrelated_links: int
    min_probability: float
    auto_merge: AutoMerge


def parse_rules(data: dict[str, Any]) -> IdentityRules:
    kinds = {
        kind: KindRule(
            kind,
            int(spec["limit"]),
            bool(spec["unique"]),
            bool(spec.get("strong", False)),
            frozenset(str(v).lower() for v in spec.get("blocked", [])),
        )
        for kind, spec in data["kinds"].items()
    }
    email = data.get("email", {})
    providers: dict[str, EmailProvider] = {}
    for spec in email.get("providers", []):
        provider = EmailProvider(
            frozenset(spec["domains"]),
            spec.get("canonical_domain"),
            bool(spec.get("ignore_dots", False)),
            bool(spec.get("plus_tags", False)),
        )
        providers.update(dict.fromkeys(provider.domains, provider))
    phone = data.get("phone", {})
    suggestions = data.get("suggestions", {})
    auto = suggestions.get("auto_merge", {})
    return IdentityRules(
        kinds=kinds,
        email=EmailRules(
            providers=providers,
            placeholder_local_parts=frozenset(str(v) for v in email.get("placeholder_local_parts", [])),
            placeholder_domains=frozenset(email.get("placeholder_domains", [])),
            placeholder_domain_suffixes=tuple(email.get("placeholder_domain_suffixes", [])),
            block_local_equals_domain=bool(email.get("block_local_equals_domain", False)),
            relay_domains=tuple(email.get("relay_domains", [])),
        ),
        international_prefixes=tuple(sorted(phone.get("international_prefixes", []), key=len, reverse=True)),
        block_sequences=bool(phone.get("block_sequences", False)),
        max_unrelated_links=int(data.get("shared_values", {}).get("max_unrelated_links", 1_000_000)),
        min_probability=float(suggestions.get("min_probability", 0.9)),
        auto_merge=AutoMerge(
            bool(auto.get("enabled", False)),
            float(auto.get("min_probability", 1.0)),
            int(auto.get("min_agreeing_strong_fields", 2)),
        ),
    )


@lru_cache(maxsize=1)
def identity_rules() -> IdentityRules:
    return parse_rules(yaml.safe_load(RULES_FILE.read_text()))


def rules() -> dict[str, KindRule]:
    return identity_rules().kinds


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
        return canonical_email(text)
    if kind == "phone":
        return _normalize_phone(text, (country or "").upper() or None)
    if kind == "shopify_customer_id":
        gid = _SHOPIFY_GID.match(text)
        return gid.group(1) if gid else text
    return text


def canonical_email(text: str) -> str:
    """Lower-cased, then the provider's own equivalences: googlemail.com = gmail.com, dots and +tags."""
    text = text.lower()
    if not _EMAIL.match(text):
        raise InvalidIdentifier("email: not a valid address (expected local@domain.tld)")
    local, domain = text.rsplit("@", 1)
    provider = identity_rules().email.providers.get(domain)
    if provider is None:
        return text
    if provider.plus_tags:
        local = local.split("+", 1)[0]
    if provider.ignore_dots:
        local = local.replace(".", "")
    if not local:
        raise InvalidIdentifier("email: nothing left of the address before '@' once its tag is removed")
    return f"{local}@{provider.canonical_domain or domain}"


def earlier_forms(kind: str, value: object) -> set[str]:
    """The forms earlier versions of cdp indexed this identifier under, where they differ from today's: before
    the provider rules (identity rules version 2) an email was only trimmed and lower-cased. Stored identifiers
    are moved to today's form by `cdp identity reindex`; the suppression list cannot be (it keeps erased
    subjects' blind indexes, never their values), so it is checked under these forms as well."""
    if kind != "email" or not isinstance(value, str):
        return set()
    try:
        canonical = normalize(kind, value)
    except InvalidIdentifier:
        return set()
    return {value.strip().lower()} - {canonical}


@lru_cache(maxsize=50_000)  # parsing dominates ingest; the same customer's number recurs across events
def _normalize_phone(text: str, region: str | None) -> str:
    digits = re.sub(r"[\s().\-/]", "", text)
    for prefix in identity_rules().international_prefixes:
        if digits.startswith(prefix) and not digits.startswith("+"):
            text = "+" + digits[len(prefix) :]
            break
    if not text.startswith("+") and region is None:
        raise InvalidIdentifier("phone: national number without a country (give the event's country or +<code>)")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier(f"phone: cannot be parsed{' for country ' + region if region else ''}") from None
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or region
        raise InvalidIdentifier(f"phone: not a valid number{' for ' + where if where else ''}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def placeholder_reason(kind: str, normalized: str) -> str | None:
    """Why this normalized value must never link anything (placeholder, test value, relay), or None."""
    value = normalized.lower()
    if value in rules()[kind].blocked or _REPEATED.match(value):
        return "blocked placeholder value"
    if kind == "email":
        return _email_placeholder(value)
    if kind == "phone" and identity_rules().block_sequences:
        return _phone_placeholder(value)
    return None


def _email_placeholder(value: str) -> str | None:
    spec = identity_rules().email
    if "@" not in value:
        return None  # not an address at all: normalization says so
    local, domain = value.rsplit("@", 1)
    if any(fnmatch.fnmatchcase(domain, pattern) for pattern in spec.relay_domains):
        return "marketplace relay address (never links two buyers)"
    if local in spec.placeholder_local_parts:
        return "placeholder address"
    if domain in spec.placeholder_domains or domain.endswith(spec.placeholder_domain_suffixes):
        return "placeholder domain"
    if spec.block_local_equals_domain and local == domain.split(".", 1)[0]:
        return "placeholder address (local part repeats the domain)"
    return None


def _phone_placeholder(value: str) -> str | None:
    try:
        national = str(phonenumbers.parse(value).national_number)
    except phonenumbers.NumberParseException:
        return None
    if _REPEATED.match(national) or (len(national) >= MIN_SEQUENCE and _is_run(national)):
        return "placeholder number"
    return None


def _is_run(digits: str) -> bool:
    """Consecutive digits up or down (123456789, 1234567890, 9876543210)."""
    return digits in _RUN_UP or digits in _RUN_UP[::-1]


def is_blocked(kind: str, normalized: str) -> bool:
    return placeholder_reason(kind, normalized) is not None
