"""The gate's decision core: may (role, purpose) do (action) on (data category)?

Casbin evaluates model.conf + policy.csv, but only while building a `Grants`: one per (role, purpose, policy
version), precomputed over every known category × action, so the per-field question is a dict look-up
(~0.1 µs) instead of an `enforce()` call (~0.1–0.4 ms, it re-evaluates every rule).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import casbin
import yaml
from casbin.persist.adapter import Adapter, load_policy_line

from policies.dictionary import DataDictionary, parse_dictionary
from policies.errors import AccessDenied, PolicyFileError, UnknownRole
from policies.purposes import Purposes, parse_purposes

ACTIONS: tuple[str, ...] = ("read", "write", "erase", "export")
POLICY_DIR = Path(__file__).parent
# Everything a decision depends on: the rules, the purpose tree and the category list grants are built over.
FILES = ("model.conf", "policy.csv", "purposes.yaml", "fields.yaml")

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_CATEGORY_PATTERN_RE = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")


def purpose_match(purpose: str, pattern: str) -> bool:
    """A rule on a purpose covers its descendants: `marketing` matches marketing.email; `*` matches all."""
    return pattern == "*" or purpose == pattern or purpose.startswith(pattern + ".")


def category_match(category: str, pattern: str) -> bool:
    """`*` matches every category; `a.b.*` matches a.b and everything under it; anything else matches
    exactly, so granting user.contact.address does not silently grant user.contact.address.street."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        base = pattern[:-2]
        return category == base or category.startswith(base + ".")
    return category == pattern


@dataclass(frozen=True, eq=False, slots=True)
class Grants:
    """What one role may do for one purpose under one policy version. Immutable; compare by identity.

    Categories outside the precomputed set (new PII-detection categories, say) are decided by casbin on first
    use and memoized, so they stay correct without a rebuild.
    """

    role: str
    purpose: str
    version: str
    _decisions: dict[tuple[str, str], bool] = field(repr=False)
    _decide: Callable[[str, str], bool] = field(repr=False)

    def allows(self, action: str, category: str) -> bool:
        decision = self._decisions.get((action, category))
        if decision is None:
            decision = self._decisions[(action, category)] = self._decide(action, category)
        return decision

    def missing(self, action: str, categories: Iterable[str]) -> list[str]:
        """The categories (deduplicated, in order) this grant does not cover for `action`."""
        return [c for c in dict.fromkeys(categories) if not self.allows(action, c)]

    def require(self, action: str, category: str, *, field: str | None = None) -> None:
        """Raise AccessDenied unless `action` on `category` is granted."""
        if not self.allows(action, category):
            raise AccessDenied(self.role, self.purpose, action, category, field)

    def allowed_categories(self, action: str) -> frozenset[str]:
        """The granted categories for `action` among those decided so far (every known category)."""
        return frozenset(c for (a, c), ok in list(self._decisions.items()) if ok and a == action)


class _TextAdapter(Adapter):
    """Feeds casbin the policy text already read and hashed, so version and rules come from the same bytes."""

    def __init__(self, text: str) -> None:
        self._text = text

    def load_policy(self, model: casbin.Model) -> None:
        for line in self._text.splitlines():
            load_policy_line(line.strip(), model)


@dataclass(frozen=True)
class _Policy:
    """One loaded policy version; swapped whole on reload, so readers never see a half-built state."""

    version: str
    stamps: tuple[tuple[int, int], ...]
    enforcer: casbin.Enforcer
    purposes: Purposes
    roles: frozenset[str]
    categories: frozenset[str]
    cache: dict[tuple[str, str], Grants] = field(default_factory=dict)


class PolicyGate:
    """Loads the policy files from `policy_dir` (default: this package) and hands out cached `Grants`.

    Thread-safe. `reload_if_changed()` picks up edited files without a restart; an invalid edit raises
    PolicyFileError and the previous policy stays in force.
    """

    def __init__(self, policy_dir: Path | str | None = None) -> None:
        self._dir = Path(policy_dir) if policy_dir is not None else POLICY_DIR
        self._lock = threading.Lock()
        self._policy = self._load(self._stamps())

    @property
    def version(self) -> str:
        """Hash of the policy files' contents; record it with every audited decision."""
        return self._policy.version

    @property
    def purposes(self) -> Purposes:
        return self._policy.purposes

    @property
    def roles(self) -> frozenset[str]:
        return self._policy.roles

    @property
    def categories(self) -> frozenset[str]:
        """The categories every Grants is precomputed over."""
        return self._policy.categories

    def reload_if_changed(self) -> bool:
        """Reload when a file's mtime or size changed (a few stat calls); True if the rules changed."""
        stamps = self._stamps()
        if stamps == self._policy.stamps:
            return False
        with self._lock:
            current = self._policy
            if stamps == current.stamps:
                return False
            fresh = self._load(stamps)
            if fresh.version == current.version:
                # Touched, not changed: keep the cached grants.
                self._policy = replace(current, stamps=stamps)
                return False
            self._policy = fresh
            return True

    def grants(self, role: str, purpose: str) -> Grants:
        """The grants of `role` for `purpose`, built once per policy version (same object until a reload)."""
        policy = self._policy
        cached = policy.cache.get((role, purpose))
        if cached is not None:
            return cached
        with self._lock:
            policy = self._policy
            cached = policy.cache.get((role, purpose))
            if cached is None:
                cached = policy.cache[(role, purpose)] = self._build(policy, role, purpose)
        return cached

    def enforce(self, role: str, purpose: str, category: str, action: str) -> bool:
        """One raw casbin decision, bypassing the grants cache (for tests and benchmarks)."""
        return self._policy.enforcer.enforce(role, purpose, category, action)

    def _build(self, policy: _Policy, role: str, purpose: str) -> Grants:
        if role not in policy.roles:
            raise UnknownRole(f"unknown role '{role}'; roles in policy.csv: {', '.join(sorted(policy.roles))}")
        policy.purposes.get(purpose)  # raises UnknownPurpose naming the valid ones

        def decide(action: str, category: str) -> bool:
            if action not in ACTIONS:
                raise ValueError(f"unknown action '{action}'; valid actions: {', '.join(ACTIONS)}")
            if not _NAME_RE.match(category):
                raise ValueError(f"invalid data category {category!r}; expected a dotted name like user.name")
            return policy.enforcer.enforce(role, purpose, category, action)

        decisions = {(a, c): decide(a, c) for a in ACTIONS for c in policy.categories}
        return Grants(role, purpose, policy.version, decisions, decide)

    def _stamps(self) -> tuple[tuple[int, int], ...]:
        try:
            stats = [os.stat(self._dir / name) for name in FILES]
        except OSError as exc:
            raise PolicyFileError(f"policy file missing or unreadable: {exc}") from exc
        return tuple((st.st_mtime_ns, st.st_size) for st in stats)

    def _yaml(self, name: str, texts: dict[str, str]) -> object:
        try:
            return yaml.safe_load(texts[name])
        except yaml.YAMLError as exc:
            raise PolicyFileError(f"{self._dir / name}: invalid YAML: {exc}") from exc

    def _load(self, stamps: tuple[tuple[int, int], ...]) -> _Policy:
        texts: dict[str, str] = {}
        digest = hashlib.sha256()
        for name in FILES:
            try:
                raw = (self._dir / name).read_bytes()
            except OSError as exc:
                raise PolicyFileError(f"{self._dir / name}: cannot read: {exc}") from exc
            digest.update(name.encode() + b"\0" + raw + b"\0")
            texts[name] = raw.decode("utf-8")

        purposes = parse_purposes(self._yaml("purposes.yaml", texts), str(self._dir / "purposes.yaml"))
        dictionary = parse_dictionary(self._yaml("fields.yaml", texts), str(self._dir / "fields.yaml"))
        try:
            model = casbin.Enforcer.new_model(text=texts["model.conf"])
            enforcer = casbin.Enforcer(model, _TextAdapter(texts["policy.csv"]))
            enforcer.logger.setLevel(logging.ERROR)  # no line per decision: decisions go to the audit log
        except Exception as exc:  # casbin reports bad syntax with assorted exception types
            raise PolicyFileError(f"{self._dir}: cannot load model.conf/policy.csv: {exc}") from exc
        enforcer.add_function("purposeMatch", purpose_match)
        enforcer.add_function("categoryMatch", category_match)
        rules = enforcer.get_policy()
        _validate_rules(self._dir / "policy.csv", rules, purposes)
        return _Policy(
            version=digest.hexdigest()[:16],
            stamps=stamps,
            enforcer=enforcer,
            purposes=purposes,
            roles=frozenset(rule[0] for rule in rules),
            categories=_categories(dictionary, rules),
        )


def _validate_rules(path: Path, rules: list[list[str]], purposes: Purposes) -> None:
    """Catch typos casbin would silently treat as non-matching (a misspelt deny is a hole)."""
    if not rules:
        raise PolicyFileError(f"{path}: no rules (expected lines like 'p, role, purpose, category, action, allow')")
    for rule in rules:
        text = "p, " + ", ".join(rule)

        def bad(problem: str, text: str = text) -> PolicyFileError:
            return PolicyFileError(f"{path}: rule '{text}': {problem}")

        if len(rule) != 5:
            raise bad("expected 5 fields: role, purpose, category, action, allow|deny")
        role, purpose, category, action, effect = rule
        if not _NAME_RE.match(role) or "." in role:
            raise bad(f"invalid role name '{role}'")
        if purpose != "*" and purpose not in purposes.names():
            raise bad(f"unknown purpose '{purpose}'; valid purposes: {', '.join(sorted(purposes.names()))}")
        if not _CATEGORY_PATTERN_RE.match(category):
            raise bad(f"invalid category pattern '{category}' (expected *, a.b or a.b.*)")
        if action != "*" and action not in ACTIONS:
            raise bad(f"unknown action '{action}'; valid actions: *, {', '.join(ACTIONS)}")
        if effect not in ("allow", "deny"):
            raise bad(f"effect must be allow or deny, got '{effect}'")


def _categories(dictionary: DataDictionary, rules: list[list[str]]) -> frozenset[str]:
    """Known categories plus every category a rule names (a.b.* names a.b), so rules are all precomputed."""
    named = {rule[2].removesuffix(".*") for rule in rules if rule[2] != "*"}
    return dictionary.all_categories() | named
