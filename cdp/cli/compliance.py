"""`cdp staff`, `cdp ropa` and `cdp incident`: console accounts, the record of processing and the breach
register from the command line. Same services as the console; the operator acts as role admin, audited."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import typer
from rich.table import Table
from sqlmodel import Session

from cdp.access.gate import AccessContext, policy_gate
from cdp.auth.staff import STAFF_ROLES, StaffError, create_staff
from cdp.cli.common import console, fail, open_store
from cdp.compliance import incidents, ropa
from cdp.ids import utcnow
from policies.errors import AccessDenied

staff_app = typer.Typer(help="Staff accounts of the compliance console.", no_args_is_help=True)
incident_app = typer.Typer(help="The breach register (GDPR Art. 33: 72 hours from awareness).", no_args_is_help=True)
PURPOSE = "legal_compliance"
_ERRORS = (incidents.IncidentError, AccessDenied, LookupError, ValueError)
T = TypeVar("T")


@staff_app.command("create")
def staff_create(
    email: str = typer.Option(..., help="The staff member's work address (their sign-in name)."),
    role: str = typer.Option(..., help=f"One of {', '.join(STAFF_ROLES)}."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="At least 12 characters; prompted for when not given.",
    ),  # fmt: skip
) -> None:
    """Create a console account; prints the TOTP secret and otpauth URI once (add it to an authenticator)."""
    store = open_store()
    try:
        with store.transaction() as session:
            created = create_staff(session, email=email, role=role, password=password)
    except StaffError as exc:
        raise fail(str(exc)) from None
    console.print(f"created staff account {created.account.id} ({created.account.role}); shown once:")
    print(f"totp secret: {created.totp_secret}")
    print(f"otpauth uri: {created.otpauth_uri}")


def ropa_command(
    fmt: str = typer.Option("json", "--format", help="csv, json or yaml (fideslang system/dataset keys)."),
    output: Path | None = typer.Option(None, help="Write here instead of stdout."),
) -> None:
    """The record of processing activities (GDPR Art. 30), generated from policies/."""
    if fmt not in ropa.FORMATS:
        raise fail(f"--format: one of {', '.join(ropa.FORMATS)}")
    store = open_store()
    with store.session() as session:
        record = ropa.build(policy_gate(), ropa.destination_names(session), utcnow().date())
    text = ropa.render(record, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--{name}: expected ISO 8601, e.g. 2026-05-01T09:00:00+00:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _run(work: Callable[[Session, AccessContext], T]) -> T:
    store = open_store()
    access = AccessContext.operator(PURPOSE)
    try:
        with store.transaction() as session:
            return work(session, access)
    except _ERRORS as exc:
        raise fail(str(exc)) from None


@incident_app.command("open")
def incident_open(
    title: str = typer.Option(..., help="Short name of the breach (no personal data)."),
    description: str = typer.Option("", help="What happened (no personal data)."),
    aware_at: str | None = typer.Option(None, help="When the breach became known (ISO 8601; default now)."),
    since: str | None = typer.Option(None, help="Start of the window to assess affected customers in."),
    until: str | None = typer.Option(None, help="End of that window (exclusive)."),
    actor: str | None = typer.Option(None, help="Only reads by this API key id or actor."),
) -> None:
    """Open an incident; with --since/--until, count affected customers from the audit log at once."""
    start, end = _when(since, "since"), _when(until, "until")
    if (start is None) != (end is None):
        raise fail("--since and --until go together")
    window = (start, end) if start and end else None
    aware = _when(aware_at, "aware-at") or utcnow()
    incident = _run(lambda s, a: incidents.open_incident(s, a, title=title, description=description, aware_at=aware,
                                                         window=window, actor=actor))  # fmt: skip
    console.print(
        f"opened incident {incident.id}; notify the regulator by {incident.regulator_due_at:%Y-%m-%d %H:%M} UTC"
    )
    print(incident.id)


@incident_app.command("list")
def incident_list() -> None:
    """Every incident, soonest regulator deadline first."""
    views = _run(incidents.list_incidents)
    table = Table("id", "aware (UTC)", "regulator due (UTC)", "affected", "status", "title")
    for v in views:
        i = v.incident
        due = f"{i.regulator_due_at:%Y-%m-%d %H:%M}" + (" OVERDUE" if v.overdue() else "")
        table.add_row(i.id, f"{i.aware_at:%Y-%m-%d %H:%M}", due, str(v.affected_total), v.status, i.title)
    console.print(table)


@incident_app.command("show")
def incident_show(incident_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """An incident's history and the notification drafts per jurisdiction."""
    view = _run(lambda s, a: incidents.view_incident(s, a, incident_id))
    drafts = incidents.drafts(view)
    if as_json:
        print(json.dumps({"id": view.incident.id, "status": view.status, "affected": view.affected,
                          "notified": view.notified, "regulator_due_at": view.incident.regulator_due_at.isoformat(),
                          "drafts": {d.jurisdiction: d.text for d in drafts}}, indent=2))  # fmt: skip
        return
    for event in view.events:
        console.print(f"{event.seq}. {event.kind} {event.occurred_at:%Y-%m-%d %H:%M} by {event.actor}")
    for draft in drafts:
        print(f"--- {draft.jurisdiction} ({draft.affected}) ---\n{draft.text}")


@incident_app.command("note")
def incident_note(incident_id: str, note: str = typer.Option(...)) -> None:
    _run(lambda s, a: incidents.add_update(s, a, incident_id, note))
    console.print("update recorded")


@incident_app.command("notify")
def incident_notify(incident_id: str, jurisdiction: str = typer.Option(...), note: str = "") -> None:
    """Record that a jurisdiction's regulator (and customers where required) were notified."""
    _run(lambda s, a: incidents.record_notification(s, a, incident_id, jurisdiction, note))
    console.print(f"notification to {jurisdiction} recorded")


@incident_app.command("close")
def incident_close(incident_id: str, summary: str = typer.Option(...)) -> None:
    _run(lambda s, a: incidents.close_incident(s, a, incident_id, summary))
    console.print("incident closed")
