"""`cdp traits ...`, `cdp segment ...` and `cdp aggregates`: the marketing commands. Same services as GraphQL,
as the operator (role admin) for the purpose given, through the gate and audited."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cdp.access.audit import audit_now
from cdp.access.gate import AccessContext
from cdp.cli.common import console, fail, open_store
from cdp.segments import aggregates as aggregate_service
from cdp.segments import audience, service
from cdp.segments.language import SegmentError, parse_text
from cdp.traits.service import compute_all
from policies.errors import AccessDenied

traits_app = typer.Typer(help="Computed traits: RFM, CLV, churn, lifecycle stage.", no_args_is_help=True)
segment_app = typer.Typer(help="Segments: define, evaluate, list, export consented audiences.", no_args_is_help=True)
_ERRORS = (SegmentError, service.SegmentNotFound, AccessDenied, ValueError)


def _progress(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)


@traits_app.command("compute")
def traits_compute(
    purpose: str = typer.Option("analytics", help="Purpose of this processing (audited)."),
    as_of: datetime | None = typer.Option(None, help="Compute as of this instant (default: now, UTC)."),
) -> None:
    """Recompute every customer's traits and refit the CLV models; then re-evaluate every segment."""
    store = open_store()
    access = AccessContext.operator(purpose)
    with _progress("computing traits") as bar, store.transaction() as session:
        task = bar.add_task("traits", total=None)
        try:
            count = compute_all(
                session,
                store,
                access,
                as_of=as_of,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
            evaluated = [
                service.evaluate_segment(session, access, s.name, as_of=as_of)
                for s in service.list_segments(session, access)
            ]
        except _ERRORS as exc:
            raise fail(str(exc)) from None
    console.print(f"computed traits of {count} customers; re-evaluated {len(evaluated)} segments")


@segment_app.command("create")
def segment_create(
    file: Path = typer.Option(..., "--file", exists=True, dir_okay=False, help="Segment definition (YAML or JSON)."),
    purpose: str = typer.Option("marketing", help="Purpose of this processing (audited)."),
) -> None:
    """Store a segment (a changed definition becomes its next version) and evaluate it."""
    store = open_store()
    access = AccessContext.operator(purpose)
    with store.transaction() as session:
        try:
            segment = service.create_segment(session, access, parse_text(file.read_text(encoding="utf-8")))
            evaluation = service.evaluate_segment(session, access, segment.id)
        except _ERRORS as exc:
            raise fail(str(exc)) from None
    console.print(f"segment {segment.name} v{segment.version}: {evaluation.members} members "
                  f"({evaluation.entered} entered, {evaluation.exited} exited)")  # fmt: skip


@segment_app.command("list")
def segment_list(purpose: str = typer.Option("marketing", help="Purpose of this processing (audited).")) -> None:
    """Every segment (latest version) with when it was last evaluated."""
    store = open_store()
    with store.transaction() as session:
        try:
            rows = service.list_segments(session, AccessContext.operator(purpose))
        except _ERRORS as exc:
            raise fail(str(exc)) from None
    table = Table("name", "version", "evaluated", "description")
    for r in rows:
        table.add_row(r.name, str(r.version), r.evaluated_at.isoformat() if r.evaluated_at else "-", r.description)
    console.print(table)


@segment_app.command("evaluate")
def segment_evaluate(
    name: str, purpose: str = typer.Option("marketing", help="Purpose of this processing (audited).")
) -> None:
    """Recompute a segment's membership now."""
    store = open_store()
    with store.transaction() as session:
        try:
            evaluation = service.evaluate_segment(session, AccessContext.operator(purpose), name)
        except _ERRORS as exc:
            raise fail(str(exc)) from None
    console.print(f"{evaluation.members} members ({evaluation.entered} entered, {evaluation.exited} exited)")


def _write(out: TextIO, fmt: str, export: audience.AudienceExport) -> None:
    columns = ["id", "entered_at", *export.fields]
    rows = ({"id": m.profile_id, "entered_at": m.entered_at.isoformat(), **m.fields} for m in export.members)
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)


@segment_app.command("export")
def segment_export(
    name: str,
    purpose: str = typer.Option(..., help="What the audience is for, e.g. marketing.email (consent is checked)."),
    destination_country: str = typer.Option(..., help="Country the data goes to (ISO code, e.g. US, DE, CN)."),
    fmt: str = typer.Option("csv", "--format", help="csv or jsonl."),
    fields: str | None = typer.Option(None, help="Comma-separated fields (default: all the purpose may export)."),
    output: Path | None = typer.Option(None, help="Write here instead of stdout."),
) -> None:
    """Export the members the purpose may reach, with the fields it may export; one audit entry."""
    if fmt not in ("csv", "jsonl"):
        raise fail("--format: csv or jsonl")
    store = open_store()
    access = AccessContext.operator(purpose)
    wanted = [f.strip() for f in fields.split(",")] if fields else None
    with store.transaction() as session:
        try:
            export = audience.export_segment(
                session, store, access, name, destination_country=destination_country, fields=wanted
            )
        except AccessDenied as denied:
            audit_now(store, access, operation="segment.export", document=name, outcome="denied",
                      categories=[denied.category], detail=str(denied))  # fmt: skip
            raise fail(str(denied)) from None
        except _ERRORS as exc:
            raise fail(str(exc)) from None
    if output is None:
        _write(sys.stdout, fmt, export)
    else:
        with output.open("w", encoding="utf-8", newline="") as out:
            _write(out, fmt, export)
    console.print(f"exported {len(export.members)} members of {export.segment.name} v{export.segment.version}")


def aggregates(
    by: str = typer.Option(..., help="country, channel, segment or month (of the first order)."),
    k: int | None = typer.Option(None, help="Smallest group shown (at least the privacy floor, 10)."),
    purpose: str = typer.Option("analytics", help="Purpose of this processing (consent is checked)."),
) -> None:
    """Repeat-purchase rate, AOV, CLV and churn per group; groups smaller than k are left out."""
    store = open_store()
    with store.transaction() as session:
        try:
            rows = aggregate_service.aggregates(session, store, AccessContext.operator(purpose), by, k=k)
        except _ERRORS as exc:
            raise fail(str(exc)) from None
    result: list[dict[str, Any]] = [vars(r) for r in rows]
    print(json.dumps(result, indent=2))
