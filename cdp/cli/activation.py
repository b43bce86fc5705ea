"""`cdp source ...`, `cdp outbox ...` and `cdp worker`: intake write keys, the outbox, the background worker."""

from __future__ import annotations

import threading

import typer
from rich.console import Console
from rich.table import Table

from cdp.access.gate import AccessContext, policy_gate
from cdp.cli.common import console, fail, open_store
from cdp.ingest.sources import create_source
from cdp.outbox import service as outbox
from cdp.store import Store
from cdp.worker.loop import PassReport, run_forever
from policies.errors import AccessDenied, UnknownPurpose

source_app = typer.Typer(help="Event sources of the Segment-spec intake (write keys).", no_args_is_help=True)
outbox_app = typer.Typer(help="Outbound deliveries: list, replay dead letters.", no_args_is_help=True)
_ERRORS = (AccessDenied, UnknownPurpose, ValueError, LookupError)


@source_app.command("create")
def source_create(
    name: str = typer.Option(..., help="The source, e.g. web (events get source segment.<name>)."),
    role: str = typer.Option(..., help="The role its events are written with, e.g. frontend_app."),
    purpose: str = typer.Option(..., help="The purpose they are collected for, e.g. personalization."),
) -> None:
    """Create a source and print its write key once (only its hash is stored)."""
    try:
        store, access = open_store(), AccessContext.operator(purpose)
        source, key = store.run(
            lambda s: create_source(s, access, name=name, role=role, purpose=purpose, roles=set(policy_gate().roles))
        )
    except _ERRORS as exc:
        raise fail(str(exc)) from None
    console.print(f"created source {source.name} ({source.id}) role={role} purpose={purpose}")
    print(key)


@outbox_app.command("list")
def outbox_list(
    status: str | None = typer.Option(None, help="pending, delivered, dead or cancelled."), first: int = 50
) -> None:
    """The newest deliveries."""
    try:
        access = AccessContext.operator("data_subject_rights")
        rows = open_store().run(lambda s: outbox.list_deliveries(s, access, status=status, first=first))
    except _ERRORS as exc:
        raise fail(str(exc)) from None
    table = Table("kind", "status", "attempts", "last error", "created")
    table.add_column("id", no_wrap=True, min_width=36)
    for d in rows:
        table.add_row(
            d.kind, d.status, str(d.attempts), d.last_error or "", d.created_at.isoformat(timespec="seconds"), d.id
        )
    Console().print(table)


@outbox_app.command("replay")
def outbox_replay(delivery_id: str) -> None:
    """Send a dead-lettered or cancelled delivery again (same idempotency key; send-time checks run again)."""
    try:
        access = AccessContext.operator("data_subject_rights")
        delivery = open_store().run(lambda s: outbox.replay(s, access, delivery_id))
    except _ERRORS as exc:
        raise fail(str(exc)) from None
    console.print(f"delivery {delivery.id} is pending again")


def worker(poll: float = typer.Option(1.0, help="Seconds between passes when idle.")) -> None:
    """Plan triggers from new events, decide the due ones, deliver the outbox; until interrupted."""
    store = open_store()
    console.print("worker running (Ctrl-C stops it; claimed work returns to the queue after its lease)")
    stop = threading.Event()
    try:
        run_forever(store, stop, poll_seconds=poll, on_pass=_log)
    except KeyboardInterrupt:
        stop.set()


def start_in_thread(store: Store, stop: threading.Event) -> threading.Thread:
    """A worker beside the server of `cdp demo --serve`."""
    thread = threading.Thread(target=run_forever, args=(store, stop), kwargs={"on_pass": _log}, daemon=True)
    thread.start()
    return thread


def _log(report: PassReport) -> None:
    if report.busy:
        sent = sum(d.status == "sent" for d in report.decisions)
        console.print(
            f"planned {report.planned}, decided {len(report.decisions)} ({sent} sent), "
            f"delivered {report.deliveries.delivered}, retrying {report.deliveries.retrying}"
        )
