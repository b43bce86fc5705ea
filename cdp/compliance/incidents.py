"""The breach register (GDPR Art. 33/34 and their counterparts): open an incident at the time of awareness,
assess who is affected from the audit log, draft the notifications each jurisdiction requires, record that
they were sent, close it. Append-only: every step is a new `incident_event` row (cdp.compliance.models).

Keeping the register needs `write` on `system.incident` (compliance officers, purpose legal_compliance);
reading it `read`. Assessing affected customers reads the audit log, so it also needs `read` on the log.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlmodel import Session, col

import policies
from audit.models import AuditEntry
from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.compliance.auditlog import AUDIT_CATEGORY
from cdp.compliance.models import Incident, IncidentEvent
from cdp.identity.models import Profile
from cdp.ids import utcnow

INCIDENT_CATEGORY = "system.incident"
BREACH_RULES = Path(policies.__file__).resolve().parent / "breach.yaml"
MAX_TEXT = 4000


class IncidentError(ValueError):
    """A register step cannot be done as asked; the message names the field and the rule."""


@dataclass(frozen=True)
class BreachRule:
    jurisdiction: str
    law: str
    authority: str
    regulator_deadline: str
    subjects: str


@dataclass(frozen=True)
class Draft:
    jurisdiction: str
    affected: int
    rule: BreachRule
    text: str


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    events: list[IncidentEvent]
    affected: dict[str, int]  # jurisdiction -> customers, from the latest assessment
    notified: list[str]  # jurisdictions recorded as notified
    closed_at: datetime | None

    @property
    def status(self) -> str:
        return "closed" if self.closed_at else "open"

    @property
    def affected_total(self) -> int:
        return sum(self.affected.values())

    def overdue(self, now: datetime | None = None) -> bool:
        """The regulator deadline passed before the breach was notified (or closed)."""
        done = [e.occurred_at for e in self.events if e.kind in ("notified", "closed")]
        return (min(done) if done else now or utcnow()) > self.incident.regulator_due_at


@lru_cache(maxsize=1)
def _rules() -> tuple[int, dict[str, BreachRule]]:
    doc = yaml.safe_load(BREACH_RULES.read_text(encoding="utf-8"))
    rules = {code: BreachRule(code, **spec) for code, spec in doc["rules"].items()}
    return int(doc["regulator_hours"]), rules


def regulator_hours() -> int:
    return _rules()[0]


def jurisdictions() -> list[str]:
    return sorted(_rules()[1])


def rule_for(jurisdiction: str) -> BreachRule:
    rules = _rules()[1]
    return rules.get(jurisdiction, rules["OTHER"])


def _require(access: AccessContext, action: str, step: str) -> None:
    access.forbid_subject_tokens()
    access.require(INCIDENT_CATEGORY, action=action, field=step)


def _text(name: str, value: str, *, required: bool = True) -> str:
    cleaned = value.strip()
    if required and not cleaned:
        raise IncidentError(f"{name}: must not be empty")
    if len(cleaned) > MAX_TEXT:
        raise IncidentError(f"{name}: at most {MAX_TEXT} characters")
    return cleaned


def _aware(name: str, moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise IncidentError(f"{name}: give a time zone (e.g. 2026-05-01T09:00:00+00:00)")
    return moment


def _append(session: Session, access: AccessContext, incident_id: str, kind: str, detail: dict[str, Any]) -> None:
    last = session.execute(select(func.max(IncidentEvent.seq)).where(col(IncidentEvent.incident_id) == incident_id))
    session.add(
        IncidentEvent(
            incident_id=incident_id,
            seq=(last.scalar() or 0) + 1,
            kind=kind,
            actor=access.principal.key_id,
            detail=json.dumps(detail, sort_keys=True, default=str),
        )
    )
    session.flush()
    document = json.dumps(detail, sort_keys=True, default=str)
    audit_in(session, access, operation=f"incident:{kind}", document=document, outcome="allowed",
             categories=[INCIDENT_CATEGORY], detail=f"incident {incident_id}")  # fmt: skip


def open_incident(
    session: Session,
    access: AccessContext,
    *,
    title: str,
    description: str,
    aware_at: datetime,
    window: tuple[datetime, datetime] | None = None,
    actor: str | None = None,
) -> Incident:
    """Open an incident; the regulator deadline runs from `aware_at`. With a `window` (and optionally the key or
    actor involved), the affected customers are assessed from the audit log at once."""
    _require(access, "write", "openIncident")
    aware = _aware("aware_at", aware_at)
    if aware > utcnow() + timedelta(minutes=5):
        raise IncidentError("aware_at: must not be in the future")
    incident = Incident(
        title=_text("title", title)[:200],
        description=_text("description", description, required=False),
        aware_at=aware,
        regulator_due_at=aware + timedelta(hours=regulator_hours()),
        opened_by=access.principal.key_id,
    )
    session.add(incident)
    session.flush()
    _append(session, access, incident.id, "opened", {"aware_at": aware, "due": incident.regulator_due_at})
    if window is not None:
        assess(session, access, incident.id, since=window[0], until=window[1], actor=actor)
    return incident


def affected_subjects(
    session: Session, access: AccessContext, *, since: datetime, until: datetime, actor: str | None = None
) -> list[str]:
    """Customers whose data was returned or changed in [since, until), by everyone or by one key or actor:
    the subject ids of the allowed audit entries that carried data categories."""
    access.forbid_subject_tokens()
    access.require(AUDIT_CATEGORY, field="incidentAffected")
    start, end = _aware("since", since), _aware("until", until)
    if end <= start:
        raise IncidentError("until: must be after since")
    query = select(col(AuditEntry.subject_ids)).where(
        col(AuditEntry.occurred_at) >= start,
        col(AuditEntry.occurred_at) < end,
        col(AuditEntry.outcome) == "allowed",
        col(AuditEntry.categories) != "[]",
        col(AuditEntry.subject_ids) != "[]",
    )
    if actor:
        query = query.where(col(AuditEntry.actor) == actor.strip())
    found: set[str] = set()
    for (subject_ids,) in session.execute(query):
        found.update(json.loads(subject_ids))
    return sorted(found)


def assess(
    session: Session, access: AccessContext, incident_id: str, *, since: datetime, until: datetime,
    actor: str | None = None,
) -> dict[str, int]:  # fmt: skip
    """Record who is affected (from the audit log), counted per jurisdiction; a later assessment supersedes
    an earlier one without erasing it."""
    _require(access, "write", "assessIncident")
    _incident(session, incident_id)
    subjects = affected_subjects(session, access, since=since, until=until, actor=actor)
    counts = _by_jurisdiction(session, subjects)
    detail = {"since": since, "until": until, "actor": actor, "by_jurisdiction": counts, "subject_ids": subjects}
    _append(session, access, incident_id, "assessed", detail)
    return counts


def _by_jurisdiction(session: Session, profile_ids: list[str]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for start in range(0, len(profile_ids), 500):
        chunk = profile_ids[start : start + 500]
        counts.update(session.execute(select(col(Profile.jurisdiction)).where(col(Profile.id).in_(chunk))).scalars())
    return dict(sorted(counts.items()))


def add_update(session: Session, access: AccessContext, incident_id: str, note: str) -> None:
    _require(access, "write", "updateIncident")
    _open_incident(session, incident_id)
    _append(session, access, incident_id, "update", {"note": _text("note", note)})


def record_notification(session: Session, access: AccessContext, incident_id: str, jurisdiction: str,
                        note: str = "") -> None:  # fmt: skip
    """The regulator (and where required the customers) of a jurisdiction were notified."""
    _require(access, "write", "recordNotification")
    _open_incident(session, incident_id)
    if jurisdiction not in _rules()[1]:
        raise IncidentError(f"jurisdiction: one of {', '.join(sorted(_rules()[1]))}")
    _append(session, access, incident_id, "notified", {"jurisdiction": jurisdiction, "note": note.strip()[:MAX_TEXT]})


def close_incident(session: Session, access: AccessContext, incident_id: str, summary: str) -> None:
    _require(access, "write", "closeIncident")
    _open_incident(session, incident_id)
    _append(session, access, incident_id, "closed", {"summary": _text("summary", summary)})


def _incident(session: Session, incident_id: str) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise LookupError(f"no incident with id {incident_id}")
    return incident


def _open_incident(session: Session, incident_id: str) -> Incident:
    incident = _incident(session, incident_id)
    closed = session.execute(
        select(col(IncidentEvent.id)).where(
            col(IncidentEvent.incident_id) == incident_id, col(IncidentEvent.kind) == "closed"
        )
    ).first()
    if closed:
        raise IncidentError("incident is closed: the register is append-only, open a new incident instead")
    return incident


def _view(incident: Incident, events: list[IncidentEvent]) -> IncidentView:
    affected: dict[str, int] = {}
    notified: list[str] = []
    closed_at = None
    for event in events:
        detail = json.loads(event.detail)
        if event.kind == "assessed":
            affected = detail["by_jurisdiction"]
        elif event.kind == "notified":
            notified.append(detail["jurisdiction"])
        elif event.kind == "closed":
            closed_at = event.occurred_at
    return IncidentView(incident, events, affected, notified, closed_at)


def view_incident(session: Session, access: AccessContext, incident_id: str) -> IncidentView:
    _require(access, "read", "incident")
    incident = _incident(session, incident_id)
    events = list(
        session.execute(
            select(IncidentEvent).where(col(IncidentEvent.incident_id) == incident_id).order_by(col(IncidentEvent.seq))
        ).scalars()
    )
    audit_in(session, access, operation="incident:read", document=incident_id, outcome="allowed",
             categories=[INCIDENT_CATEGORY], detail=f"incident {incident_id}")  # fmt: skip
    return _view(incident, events)


def list_incidents(session: Session, access: AccessContext) -> list[IncidentView]:
    """Every incident, soonest regulator deadline first."""
    _require(access, "read", "incidents")
    incidents = list(
        session.execute(select(Incident).order_by(col(Incident.regulator_due_at), col(Incident.id))).scalars()
    )
    events: dict[str, list[IncidentEvent]] = {i.id: [] for i in incidents}
    for event in session.execute(
        select(IncidentEvent).order_by(col(IncidentEvent.incident_id), col(IncidentEvent.seq))
    ).scalars():
        events[event.incident_id].append(event)
    return [_view(i, events[i.id]) for i in incidents]


def drafts(view: IncidentView) -> list[Draft]:
    """One notification draft per affected jurisdiction, naming the law, the authority and the deadline."""
    incident = view.incident
    result = []
    for jurisdiction, count in view.affected.items():
        rule = rule_for(jurisdiction)
        text = (
            f"Notification of a personal data breach under {rule.law}, to {rule.authority}.\n"
            f"Incident: {incident.title} (reference {incident.id}).\n"
            f"We became aware of it at {incident.aware_at:%Y-%m-%d %H:%M} UTC.\n"
            f"Approximate number of data subjects concerned in this jurisdiction: {count}.\n"
            f"Nature of the breach: {incident.description or '(to be completed)'}\n"
            f"Deadline for this notification: {rule.regulator_deadline}. "
            f"Data subjects must be told {rule.subjects}.\n"
            "Likely consequences, measures taken and contact point of the data protection officer: "
            "(to be completed)."
        )
        result.append(Draft(jurisdiction, count, rule, text))
    return result
