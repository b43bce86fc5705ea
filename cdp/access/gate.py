"""The access gate, cdp side: one object per request (or CLI command) that every service touching personal
data consults. It answers from precomputed grants (policies.gate) and per-subject state.

GraphQL's pre-execution field check, resolvers, the CLI and exports all go through `AccessContext`.
"""

from __future__ import annotations

import getpass
import threading
from dataclasses import dataclass, field

from sqlmodel import Session

from cdp.auth.service import Principal
from cdp.identity.groups import ProfileGroup
from consent.jurisdiction import is_permitted
from consent.ledger import latest_records
from policies.errors import AccessDenied
from policies.gate import Grants, PolicyGate
from policies.purposes import ConsentMode, Purposes

RESTRICTED_PURPOSES = frozenset({"legal_compliance"})  # a restricted profile is processed only for these
_gate: PolicyGate | None = None
_gate_lock = threading.Lock()


def policy_gate() -> PolicyGate:
    """The process-wide gate; policy files edited on disk are picked up without a restart."""
    global _gate
    with _gate_lock:
        if _gate is None:
            _gate = PolicyGate()
    _gate.reload_if_changed()
    return _gate


def consent_block(session: Session, purposes: Purposes, purpose: str, group: ProfileGroup) -> str | None:
    """Why the customer's consent does not cover this purpose, or None. The newest record on the purpose or
    any of its ancestors decides (an objection to `marketing` after a grant of `marketing.email` wins);
    without one, the jurisdiction's rule for the purpose does. Read on every request: a withdrawal takes
    effect on the next read."""
    return consent_blocks(session, purposes, purpose, [group])[group.root.id]


def consent_blocks(
    session: Session, purposes: Purposes, purpose: str, groups: list[ProfileGroup]
) -> dict[str, str | None]:
    """`consent_block` for many customers with one ledger query: {root id: reason or None}."""
    modes = {g.root.id: _consent_mode(purposes, purpose, g.root.jurisdiction) for g in groups}
    asked = [g for g in groups if modes[g.root.id] != "none"]
    chain = [purpose, *purposes.ancestors(purpose)]
    latest = latest_records(session, {g.root.id: g.member_ids for g in asked}, chain) if asked else {}
    verdicts: dict[str, str | None] = dict.fromkeys(modes)
    for group in asked:
        jurisdiction, mode, record = group.root.jurisdiction, modes[group.root.id], latest.get(group.root.id)
        status = record.status if record is not None else None
        if mode == "none" or is_permitted(status, jurisdiction, requires_consent=True, mode=mode):
            continue
        if record is None:
            verdicts[group.root.id] = f"no consent for {purpose} ({jurisdiction}: {mode.replace('_', '-')})"
        else:
            verdicts[group.root.id] = f"consent {record.status} for {record.purpose}"
    return verdicts


def _consent_mode(purposes: Purposes, purpose: str, jurisdiction: str) -> ConsentMode:
    return purposes.consent_mode(purpose, jurisdiction if jurisdiction in purposes.jurisdictions else None)


class SubjectScopeError(AccessDenied):
    """A data-subject token asked to read or change a customer that is not its own."""

    def __init__(self, principal: Principal, purpose: str, *, action: str = "read") -> None:
        verb = "read" if action == "read" else "act on"
        Exception.__init__(self, f"access denied: a data-subject token may only {verb} its own profile")
        self.role, self.purpose, self.action, self.category, self.field = principal.role, purpose, action, "*", None


@dataclass(frozen=True)
class Redaction:
    path: str
    subject_id: str
    reason: str


@dataclass
class AccessContext:
    principal: Principal
    purpose: str
    grants: Grants
    purposes: Purposes  # the purpose tree of the policy version the grants came from
    redactions: list[Redaction] = field(default_factory=list)
    subjects: set[str] = field(default_factory=set)  # root profile ids whose data was returned
    categories: set[str] = field(default_factory=set)  # categories returned
    _blocked: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def for_principal(cls, principal: Principal, purpose: str) -> AccessContext:
        gate = policy_gate()
        return cls(principal, purpose, gate.grants(principal.role, purpose), gate.purposes)

    @classmethod
    def operator(cls, purpose: str) -> AccessContext:
        """The operator at the machine (CLI, demo loader): role admin, still through the gate and audited."""
        return cls.for_principal(Principal(f"cli:{getpass.getuser()}", "operator", "admin"), purpose)

    def require(self, category: str, *, action: str = "read", field: str | None = None) -> None:
        self.grants.require(action, category, field=field)

    def allows(self, category: str, action: str = "read") -> bool:
        return self.grants.allows(action, category)

    def check_subject(self, member_ids: list[str], *, action: str = "read") -> None:
        """A data-subject token sees and changes only its own merge group."""
        if self.principal.profile_id is not None and self.principal.profile_id not in member_ids:
            raise SubjectScopeError(self.principal, self.purpose, action=action)

    def blocked_reason(self, session: Session, group: ProfileGroup) -> str | None:
        """Why this subject's personal fields must be null for this request, or None. Decided once per
        subject per request."""
        return self.blocked_reasons(session, [group])[group.root.id]

    def blocked_reasons(self, session: Session, groups: list[ProfileGroup]) -> dict[str, str | None]:
        """`blocked_reason` for a page of subjects: erased or restricted from their status, consent with one
        ledger query for the whole page."""
        undecided = [g for g in groups if g.root.id not in self._blocked]
        by_status = {g.root.id: self._status_block(g) for g in undecided}
        self._blocked.update(by_status)
        pending = [g for g in undecided if by_status[g.root.id] is None and g.root.status != "erased"]
        self._blocked.update(consent_blocks(session, self.purposes, self.purpose, pending))
        return {g.root.id: self._blocked[g.root.id] for g in groups}

    def _status_block(self, group: ProfileGroup) -> str | None:
        status = group.root.status
        if status == "erased" and self.purpose not in RESTRICTED_PURPOSES:
            return "erased"  # for legal_compliance, what a legal hold kept stays readable (nothing else is left)
        if status == "restricted" and self.purpose not in RESTRICTED_PURPOSES:
            return "restricted: processing limited to legal_compliance"
        return None

    def redact(self, path: str, subject_id: str, reason: str) -> None:
        self.redactions.append(Redaction(path, subject_id, reason))

    def forbid_subject_tokens(self) -> None:
        """Lists spanning customers are for staff; a data-subject token sees only its own profile."""
        if self.principal.profile_id is not None:
            raise SubjectScopeError(self.principal, self.purpose)

    def returned(self, root_id: str, category: str) -> None:
        self.subjects.add(root_id)
        self.categories.add(category)
