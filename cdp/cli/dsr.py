"""`cdp dsr ...` and `cdp retention ...`: the compliance officer's commands. Same services as GraphQL."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cdp.access.gate import AccessContext
from cdp.cli.common import console, fail, open_store
from cdp.dsr import service, verification
from cdp.dsr.common import DsrError, RequestNotFound
from cdp.dsr.deadlines import DeadlineError, Period
from cdp.dsr.models import DsrRequest
from cdp.events.partitions import ensure_partitions
from cdp.ids import utcnow
from cdp.outbox import service as outbox
from cdp.retention.service import run_retention
from cdp.store import Store
from cdp.worker.outbox import deliver_due
from policies.errors import AccessDenied

dsr_app = typer.Typer(help="Data-subject requests: create, verify, run, track deadlines.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention per data category (policies/retention.yaml).", no_args_is_help=True)
PURPOSE = typer.Option("data_subject_rights", help="data_subject_rights or legal_compliance (audited).")
_ERRORS = (DsrError, DeadlineError, RequestNotFound, AccessDenied, PermissionError, ValueError)


def _store() -> Store:
    return open_store()


def _fail(exc: Exception) -> typer.Exit:
    return fail(str(exc))


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{what} must be NAME=VALUE, got {item!r}")
        pairs[name.strip()] = value
    return pairs


def _show(request: DsrRequest) -> None:
    print(json.dumps({k: v for k, v in request.model_dump().items() if k != "subject_index"}, default=str, indent=2))


@dsr_app.command("create")
def create(
    kind: str = typer.Argument(..., help="access | portability | rectification | erasure | restriction | objection"),
    identifier: list[str] = typer.Option([], help="KIND=VALUE the subject gave, e.g. email=a@b.com (repeatable)."),
    profile_id: str | None = typer.Option(None, help="The subject's profile id, when known."),
    country: str | None = typer.Option(None, help="ISO country for phone numbers and the jurisdiction."),
    purpose: str = PURPOSE,
) -> None:
    """Record a request (received); its deadline follows the subject's jurisdiction."""
    ids = [service.SubjectIdentifier(k, v, country) for k, v in _pairs(identifier, "--identifier").items()]
    try:
        store, access = _store(), AccessContext.operator(purpose)
        request = store.run(
            lambda s: service.create_request(
                s, store, access, kind=kind, identifiers=ids, profile_id=profile_id, source="cli"
            )
        )
    except _ERRORS as exc:
        raise _fail(exc) from None
    _show(request)


@dsr_app.command("list")
def list_(status: str | None = typer.Option(None), first: int = 100, purpose: str = PURPOSE) -> None:
    """Requests by due date, soonest first."""
    try:
        access = AccessContext.operator(purpose)
        rows = _store().run(lambda s: service.list_requests(s, access, status=status, first=first))
    except _ERRORS as exc:
        raise _fail(exc) from None
    table = Table("due", "status", "kind", "jurisdiction", "received")
    table.add_column("id", no_wrap=True, min_width=36)  # copied into the next command: never truncated
    today = date.today()
    for r in rows:
        overdue = r.due_on < today and r.status in service.OPEN_STATUSES
        table.add_row(
            f"[red]{r.due_on}[/red]" if overdue else str(r.due_on),
            r.status,
            r.kind,
            r.jurisdiction,
            r.received_at.date().isoformat(),
            r.id,
        )
    Console().print(table)


@dsr_app.command("show")
def show(request_id: str, purpose: str = PURPOSE) -> None:
    """One request as JSON (the erasure certificate included)."""
    try:
        access = AccessContext.operator(purpose)
        _show(_store().run(lambda s: service.load(s, access, request_id)))
    except _ERRORS as exc:
        raise _fail(exc) from None


@dsr_app.command("send-code")
def send_code(request_id: str) -> None:
    """Email the subject a one-time code (CDP_SMTP_HOST/PORT/FROM)."""
    try:
        store = _store()
        sent = store.run(lambda s: verification.send_verification(s, store, request_id))
    except _ERRORS as exc:
        raise _fail(exc) from None
    console.print("code sent" if sent else "no email on file (or not awaiting verification): verify by other means")


@dsr_app.command("verify")
def verify(
    request_id: str, method: str = typer.Option(..., help="How identity was checked."), purpose: str = PURPOSE
) -> None:
    """Mark the subject's identity as verified by other means (documents, a call back)."""
    try:
        access = AccessContext.operator(purpose)
        _show(_store().run(lambda s: service.mark_verified(s, access, request_id, method)))
    except _ERRORS as exc:
        raise _fail(exc) from None


@dsr_app.command("extend")
def extend(
    request_id: str,
    reason: str = typer.Option(..., help="Recorded and audited."),
    months: int = 0,
    days: int = 0,
    purpose: str = PURPOSE,
) -> None:
    """Extend the deadline as the jurisdiction allows (before the original due date)."""
    try:
        access, extension = AccessContext.operator(purpose), Period(months=months, days=days)
        request = _store().run(
            lambda s: service.extend_deadline(s, access, request_id, extension=extension, reason=reason)
        )
    except _ERRORS as exc:
        raise _fail(exc) from None
    console.print(f"due on {request.due_on} (originally {request.original_due_on})")


@dsr_app.command("refuse")
def refuse(request_id: str, reason: str = typer.Option(...), purpose: str = PURPOSE) -> None:
    """Close a request without acting, with the reason the subject is given."""
    try:
        access = AccessContext.operator(purpose)
        _store().run(lambda s: service.refuse(s, access, request_id, reason))
    except _ERRORS as exc:
        raise _fail(exc) from None
    console.print("refused")


@dsr_app.command("run")
def run(
    request_id: str,
    output: Path | None = typer.Option(None, help="Where to write the archive of an access/portability request."),
    trait: list[str] = typer.Option([], "--set", help="Rectification: NAME=VALUE (repeatable)."),
    identifier: list[str] = typer.Option([], help="Rectification: KIND=VALUE (repeatable)."),
    purpose: str = PURPOSE,
) -> None:
    """Execute a verified request: export, erase, restrict, object or rectify."""
    try:
        traits, identifiers = _pairs(trait, "--set"), _pairs(identifier, "--identifier")
        store, access = _store(), AccessContext.operator(purpose)
        outcome = store.run_until(
            lambda s: service.execute(s, store, access, request_id, traits=traits, identifiers=identifiers),
            finished=lambda o: o.finished,  # an erasure's second step runs once its first is committed
        )
    except _ERRORS as exc:
        raise _fail(exc) from None
    if outcome.archive is not None:
        target = output or Path(f"dsr-{request_id}.zip")
        # created owner-only (0600) before a byte is written; an existing file is made owner-only too
        with (
            outcome.archive as archive,
            os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out,
        ):
            os.fchmod(out.fileno(), 0o600)
            shutil.copyfileobj(archive, out)
        console.print(f"archive written to {target} (0600): it holds personal data")
    print(json.dumps(outcome.certificate or outcome.summary or {"status": outcome.request.status}, indent=2))


@dsr_app.command("lift-restriction")
def lift_restriction(request_id: str, purpose: str = PURPOSE) -> None:
    """End the restriction a completed restriction request put in place (tell the subject first, Art. 18(3))."""
    try:
        access = AccessContext.operator(purpose)
        outcome = _store().run(lambda s: service.lift_restriction(s, access, request_id))
    except _ERRORS as exc:
        raise _fail(exc) from None
    print(json.dumps(outcome.summary, indent=2))


@dsr_app.command("destination-add")
def destination_add(
    name: str,
    url: str,
    secret: str = typer.Option(..., help="Shared HMAC secret (kept encrypted with the key store)."),
    serves: str = typer.Option("data_subject_rights", "--serves", help="The purpose the destination serves."),
) -> None:
    """Register a downstream system: told of erasures, and sent the triggers of the purpose it serves."""
    try:
        store, access = _store(), AccessContext.operator("data_subject_rights")
        destination = store.run(
            lambda s: outbox.register_destination(s, store, access, name=name, url=url, secret=secret, purpose=serves)
        )
    except _ERRORS as exc:
        raise _fail(exc) from None
    console.print(f"destination {destination.name} ({destination.id})")


@dsr_app.command("deliver")
def deliver() -> None:
    """Send due downstream notifications (retries with exponential backoff); run it from cron or a worker."""
    report = deliver_due(_store())
    console.print(
        f"{report.delivered} delivered, {report.retrying} to retry, {report.dead} dead-lettered, "
        f"{report.cancelled} cancelled"
    )


@retention_app.command("run")
def retention_run(
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what expired; delete nothing."),
    purpose: str = typer.Option("legal_compliance", help="Purpose of the deletion (audited)."),
) -> None:
    """Delete events older than their category's retention period, audited."""
    try:
        store, access = _store(), AccessContext.operator(purpose)
        # first, in its own transaction: rows that sat in the default partition get their month's (PostgreSQL)
        store.run(lambda s: ensure_partitions(s, utcnow().date()))
        report = store.run(lambda s: run_retention(s, store, access, dry_run=dry_run))
    except _ERRORS as exc:
        raise _fail(exc) from None
    table = Table("category", "expired before", "events", "profiles", title="dry run" if dry_run else "deleted")
    for c in report.categories:
        table.add_row(c.category, str(c.cutoff), str(c.expired), str(c.profiles))
    out = Console()
    out.print(table)
    if report.months_dropped:
        months = ", ".join(f"{m:%Y-%m}" for m in report.months_dropped)
        out.print(f"{'would drop' if dry_run else 'dropped'} whole month partitions (every row expired): {months}")
    if report.hold_keys_shredded:
        console.print(f"{report.hold_keys_shredded} legal-hold keys shredded (nothing left under hold)")
