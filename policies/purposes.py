"""Processing purposes (policies/purposes.yaml): a dotted tree with a legal basis and consent mode per
jurisdiction.

`load_purposes(path)` builds a `Purposes` registry; the module-level functions answer from the package's own
file, re-read when it changes on disk (an mtime check), so a policy edit needs no restart.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from policies.errors import PolicyFileError, UnknownJurisdiction, UnknownPurpose

DEFAULT_PATH = Path(__file__).with_name("purposes.yaml")

LEGAL_BASES = frozenset(
    {
        "consent",
        "contract",
        "legal_obligation",
        "legitimate_interests",
        "vital_interests",
        "public_task",
        "notice",
    }
)
# Ordered loosest to strictest; a parent purpose must be at least as strict as each child.
ConsentMode = Literal["none", "opt_out", "opt_in"]
CONSENT_MODES: tuple[ConsentMode, ...] = ("none", "opt_out", "opt_in")

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_PURPOSE_KEYS = {"description", "sale_or_sharing", "jurisdictions"}


@dataclass(frozen=True, slots=True)
class Purpose:
    name: str
    description: str
    sale_or_sharing: bool
    legal_basis: Mapping[str, str]  # jurisdiction → basis
    consent: Mapping[str, ConsentMode]  # jurisdiction → mode

    @property
    def parent(self) -> str | None:
        return self.name.rpartition(".")[0] or None


class Purposes:
    """A validated purpose tree; build with `load_purposes`."""

    def __init__(self, purposes: Mapping[str, Purpose], jurisdictions: tuple[str, ...]) -> None:
        self._purposes = dict(purposes)
        self.jurisdictions = jurisdictions

    def names(self) -> frozenset[str]:
        return frozenset(self._purposes)

    def get(self, name: str) -> Purpose:
        try:
            return self._purposes[name]
        except KeyError:
            raise UnknownPurpose(
                f"unknown purpose '{name}'; valid purposes: {', '.join(sorted(self._purposes))}"
            ) from None

    def ancestors(self, name: str) -> list[str]:
        """Parents of `name`, nearest first: marketing.email → [marketing]."""
        self.get(name)
        parts = name.split(".")
        return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]

    def consent_mode(self, purpose: str, jurisdiction: str | None) -> ConsentMode:
        """none | opt_out | opt_in. An unknown (None) jurisdiction gets the strictest mode of any."""
        p = self.get(purpose)
        if jurisdiction is None:
            return max(p.consent.values(), key=CONSENT_MODES.index)
        try:
            return p.consent[jurisdiction]
        except KeyError:
            raise UnknownJurisdiction(
                f"unknown jurisdiction '{jurisdiction}'; valid: {', '.join(self.jurisdictions)}"
            ) from None

    def requires_consent(self, purpose: str, jurisdiction: str | None) -> bool:
        """True when processing needs a recorded grant first (opt-in)."""
        return self.consent_mode(purpose, jurisdiction) == "opt_in"

    def sale_or_sharing_purposes(self) -> frozenset[str]:
        """Purposes a Global Privacy Control (Sec-GPC: 1) signal withdraws."""
        return frozenset(name for name, p in self._purposes.items() if p.sale_or_sharing)


def load_purposes(path: Path | str = DEFAULT_PATH) -> Purposes:
    """Parse and validate purposes.yaml; errors name the file and the offending key."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"{path}: cannot read purposes: {exc}") from exc
    return parse_purposes(doc, str(path))


def parse_purposes(doc: Any, source: str) -> Purposes:
    def bad(key: str, problem: str) -> PolicyFileError:
        return PolicyFileError(f"{source}: '{key}': {problem}")

    if not isinstance(doc, dict):
        raise PolicyFileError(f"{source}: expected a mapping at the top level")
    unknown = set(doc) - {"version", "jurisdictions", "purposes"}
    if unknown:
        raise bad(sorted(unknown)[0], "unknown top-level key (expected version, jurisdictions, purposes)")
    jurisdictions = doc.get("jurisdictions")
    if not isinstance(jurisdictions, list) or not jurisdictions or not all(isinstance(j, str) for j in jurisdictions):
        raise bad("jurisdictions", "must be a non-empty list of codes like EU, US-CA")
    raw_purposes = doc.get("purposes")
    if not isinstance(raw_purposes, dict) or not raw_purposes:
        raise bad("purposes", "must be a non-empty mapping of purpose name to its definition")

    purposes: dict[str, Purpose] = {}
    for name, raw in raw_purposes.items():
        key = f"purposes.{name}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise bad(key, "purpose names are lower-case dotted names like marketing.email")
        if not isinstance(raw, dict):
            raise bad(key, "expected a mapping with description, sale_or_sharing, jurisdictions")
        if set(raw) != _PURPOSE_KEYS:
            raise bad(key, _key_mismatch(raw, _PURPOSE_KEYS))
        if not isinstance(raw["description"], str) or not raw["description"].strip():
            raise bad(f"{key}.description", "must be a non-empty text")
        if not isinstance(raw["sale_or_sharing"], bool):
            raise bad(f"{key}.sale_or_sharing", f"must be true or false, got {raw['sale_or_sharing']!r}")
        per_j = raw["jurisdictions"]
        if not isinstance(per_j, dict):
            raise bad(f"{key}.jurisdictions", "must map each jurisdiction to {legal_basis, consent}")
        if set(per_j) != set(jurisdictions):
            raise bad(f"{key}.jurisdictions", _key_mismatch(per_j, set(jurisdictions)))
        bases: dict[str, str] = {}
        modes: dict[str, ConsentMode] = {}
        for j, rule in per_j.items():
            jkey = f"{key}.jurisdictions.{j}"
            if not isinstance(rule, dict) or set(rule) != {"legal_basis", "consent"}:
                raise bad(jkey, "expected {legal_basis: ..., consent: ...}")
            if rule["legal_basis"] not in LEGAL_BASES:
                raise bad(f"{jkey}.legal_basis", f"{rule['legal_basis']!r} is not one of {sorted(LEGAL_BASES)}")
            if rule["consent"] not in CONSENT_MODES:
                raise bad(f"{jkey}.consent", f"{rule['consent']!r} is not one of {list(CONSENT_MODES)}")
            # Consent as the legal basis and opt-in consent are the same statement; a mismatch is a typo.
            if (rule["legal_basis"] == "consent") != (rule["consent"] == "opt_in"):
                raise bad(jkey, "legal_basis consent and consent opt_in go together")
            bases[j], modes[j] = rule["legal_basis"], rule["consent"]
        purposes[name] = Purpose(
            name,
            raw["description"].strip(),
            raw["sale_or_sharing"],
            MappingProxyType(bases),
            MappingProxyType(modes),
        )

    for p in purposes.values():
        if p.parent is None:
            continue
        parent = purposes.get(p.parent)
        if parent is None:
            raise bad(f"purposes.{p.name}", f"parent purpose '{p.parent}' is not declared")
        # A caller may declare the parent purpose; it must not open what the child keeps shut.
        if p.sale_or_sharing and not parent.sale_or_sharing:
            raise bad(f"purposes.{p.parent}.sale_or_sharing", f"must be true because child '{p.name}' is")
        for j in jurisdictions:
            if CONSENT_MODES.index(parent.consent[j]) < CONSENT_MODES.index(p.consent[j]):
                raise bad(
                    f"purposes.{p.parent}.jurisdictions.{j}.consent",
                    f"'{parent.consent[j]}' is looser than child '{p.name}' ('{p.consent[j]}')",
                )
    return Purposes(purposes, tuple(jurisdictions))


def _key_mismatch(found: Iterable[str], expected: set[str]) -> str:
    found = set(found)
    problems = []
    if found - expected:
        problems.append(f"unknown keys {sorted(found - expected)}")
    if expected - found:
        problems.append(f"missing keys {sorted(expected - found)}")
    return "; ".join(problems)


class _Default:
    """The package's purposes.yaml, re-read when its mtime or size changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._purposes: Purposes | None = None

    def get(self) -> Purposes:
        st = os.stat(DEFAULT_PATH)
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp or self._purposes is None:
            with self._lock:
                if stamp != self._stamp or self._purposes is None:
                    self._purposes = load_purposes(DEFAULT_PATH)
                    self._stamp = stamp
        return self._purposes


_default = _Default()


def default_purposes() -> Purposes:
    return _default.get()


def get(name: str) -> Purpose:
    return default_purposes().get(name)


def ancestors(name: str) -> list[str]:
    return default_purposes().ancestors(name)


def requires_consent(purpose: str, jurisdiction: str | None) -> bool:
    return default_purposes().requires_consent(purpose, jurisdiction)


def consent_mode(purpose: str, jurisdiction: str | None) -> ConsentMode:
    return default_purposes().consent_mode(purpose, jurisdiction)


def sale_or_sharing_purposes() -> frozenset[str]:
    return default_purposes().sale_or_sharing_purposes()
