"""The data dictionary (policies/fields.yaml) as typed objects.

Every personal value the platform stores has a data category; the gate grants access by category and
ingestion encrypts by these specs. Unknown identifier kinds and event types are errors (fail closed); unknown
traits are accepted under the `undeclared_trait` category until PII detection classifies them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from policies.errors import PolicyFileError, UnknownField

DEFAULT_PATH = Path(__file__).with_name("fields.yaml")

Kind = Literal["identifier", "trait", "event", "computed"]
SENSITIVITIES = ("low", "medium", "high")

# Categories PII detection assigns to values found in undeclared traits or free text. They are not fields of
# their own, so fields.yaml cannot list them, but the gate must know them to precompute grants.
DETECTED_CATEGORIES: frozenset[str] = frozenset(
    {
        "user.government_id",
        "user.financial",
        "user.financial.bank_account",
        "user.financial.credit_card",
        "user.financial.tax_id",
        "user.device.ip_address",
        "user.contact.address",
    }
)

_CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_SECTIONS: dict[str, Kind] = {"identifiers": "identifier", "traits": "trait", "events": "event"}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: Kind
    category: str
    sensitivity: str
    encrypted: bool
    searchable: bool


class DataDictionary:
    """The parsed fields.yaml; build with `load_dictionary`."""

    def __init__(
        self,
        identifiers: Mapping[str, FieldSpec],
        traits: Mapping[str, FieldSpec],
        events: Mapping[str, FieldSpec],
        undeclared_trait: FieldSpec,
        unredacted_free_text: FieldSpec,
        computed: Mapping[str, FieldSpec] | None = None,
    ) -> None:
        self.identifiers = dict(identifiers)
        self.traits = dict(traits)
        self.events = dict(events)
        self.undeclared_trait = undeclared_trait
        self.unredacted_free_text = unredacted_free_text
        self.computed = dict(computed or {})

    def trait(self, name: str) -> FieldSpec:
        """The spec of a declared trait, or the `undeclared_trait` spec for any other name."""
        return self.traits.get(name, self.undeclared_trait)

    def identifier(self, kind: str) -> FieldSpec:
        return _lookup(self.identifiers, kind, "identifier kind")

    def event(self, type_: str) -> FieldSpec:
        return _lookup(self.events, type_, "event type")

    def all_categories(self) -> frozenset[str]:
        """Every category a stored value can carry: declared fields, undeclared traits, PII detection."""
        specs = [
            *self.identifiers.values(),
            *self.traits.values(),
            *self.events.values(),
            *self.computed.values(),
            self.undeclared_trait,
            self.unredacted_free_text,
        ]
        return frozenset(s.category for s in specs) | DETECTED_CATEGORIES


def _lookup(specs: Mapping[str, FieldSpec], name: str, what: str) -> FieldSpec:
    try:
        return specs[name]
    except KeyError:
        raise UnknownField(f"unknown {what} '{name}'; declared in fields.yaml: {', '.join(sorted(specs))}") from None


def load_dictionary(path: Path | str = DEFAULT_PATH) -> DataDictionary:
    """Parse and validate fields.yaml; errors name the file and the offending key."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"{path}: cannot read data dictionary: {exc}") from exc
    return parse_dictionary(doc, str(path))


def parse_dictionary(doc: Any, source: str) -> DataDictionary:
    if not isinstance(doc, dict):
        raise PolicyFileError(f"{source}: expected a mapping at the top level")
    sections: dict[str, dict[str, FieldSpec]] = {}
    for section, kind in _SECTIONS.items():
        entries = doc.get(section)
        if not isinstance(entries, dict) or not entries:
            raise PolicyFileError(f"{source}: '{section}' must be a non-empty mapping")
        sections[section] = {name: _spec(source, f"{section}.{name}", name, kind, raw) for name, raw in entries.items()}
    undeclared = _spec(source, "undeclared_trait", "undeclared_trait", "trait", doc.get("undeclared_trait"))
    raw_text = _spec(source, "unredacted_free_text", "unredacted_free_text", "event", doc.get("unredacted_free_text"))
    computed = doc.get("computed") or {}
    if not isinstance(computed, dict):
        raise PolicyFileError(f"{source}: 'computed' must be a mapping")
    derived = {name: _spec(source, f"computed.{name}", name, "computed", raw) for name, raw in computed.items()}
    return DataDictionary(
        sections["identifiers"], sections["traits"], sections["events"], undeclared, raw_text, derived
    )


def _spec(source: str, key: str, name: str, kind: Kind, raw: Any) -> FieldSpec:
    def bad(problem: str) -> PolicyFileError:
        return PolicyFileError(f"{source}: '{key}': {problem}")

    if not isinstance(raw, dict):
        raise bad("expected a mapping with category, sensitivity, encrypted")
    unknown = set(raw) - {"category", "sensitivity", "encrypted", "searchable"}
    if unknown:
        raise bad(f"unknown keys {sorted(unknown)}")
    category = raw.get("category")
    if not isinstance(category, str) or not _CATEGORY_RE.match(category):
        raise bad(f"category must be a dotted name like user.contact.email, got {category!r}")
    if raw.get("sensitivity") not in SENSITIVITIES:
        raise bad(f"sensitivity must be one of {', '.join(SENSITIVITIES)}, got {raw.get('sensitivity')!r}")
    # Nothing personal is ever stored in plaintext (DESIGN.md): refuse a dictionary that says otherwise. The one
    # exception: low-sensitivity computed traits that segments filter on in SQL (docs/marketing.md).
    plaintext_ok = kind == "computed" and raw.get("sensitivity") == "low"
    if raw.get("encrypted") is not True and not (plaintext_ok and raw.get("encrypted") is False):
        raise bad(
            "encrypted must be true: every personal field is encrypted at rest (computed low-sensitivity "
            "traits may say false)"
        )
    searchable = raw.get("searchable", False)
    if not isinstance(searchable, bool):
        raise bad(f"searchable must be true or false, got {searchable!r}")
    return FieldSpec(name, kind, category, raw["sensitivity"], raw["encrypted"], searchable)


@functools.cache
def default_dictionary() -> DataDictionary:
    """The package's fields.yaml, parsed once per process."""
    return load_dictionary()


def category_of_trait(name: str) -> str:
    return default_dictionary().trait(name).category


def category_of_identifier(kind: str) -> str:
    return default_dictionary().identifier(kind).category


def category_of_event(type_: str) -> str:
    return default_dictionary().event(type_).category


def all_categories() -> frozenset[str]:
    return default_dictionary().all_categories()
