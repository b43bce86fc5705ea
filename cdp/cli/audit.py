"""`cdp audit verify|export`: for compliance officers and auditors."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import typer

import audit
from cdp.cli.common import console, open_store

audit_app = typer.Typer(help="The hash-chained audit log.")


@audit_app.command("verify")
def verify(
    anchor: str | None = typer.Option(None, help="SEQ:HASH recorded earlier; also detects a deleted tail."),
) -> None:
    """Recompute the hash chain; exit 1 naming the first broken entry."""
    expected = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            console.print("[red]error:[/red] --anchor must be SEQ:HASH (from a previous verify)")
            raise typer.Exit(2)
        expected = (int(seq), digest)
    store = open_store()
    with store.session() as session:
        result = audit.verify(session, anchor=expected)
        head = audit.head(session)
    if not result.ok:
        console.print(f"[red]BROKEN[/red] at entry {result.first_broken_seq}: {result.reason}")
        raise typer.Exit(1)
    console.print(f"ok: {result.entries_checked} entries verified")
    if head:
        console.print(f"head (record it as --anchor next time): {head[0]}:{head[1]}")


@audit_app.command("export")
def export(
    output: Path | None = typer.Option(None, help="JSONL file to write (default: stdout)."),
    since: datetime | None = typer.Option(None, help="ISO time with zone, inclusive."),
    until: datetime | None = typer.Option(None, help="ISO time with zone, exclusive."),
) -> None:
    """Write the log as JSONL for auditors (every field, so they can recompute the chain)."""
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            console.print("[red]error:[/red] --since/--until need a time zone, e.g. 2026-01-01T00:00:00+00:00")
            raise typer.Exit(2)
    store = open_store()
    with store.session() as session:
        if output is None:
            count = audit.export_jsonl(session, sys.stdout, since=since, until=until)
        else:
            with output.open("w", encoding="utf-8") as fh:
                count = audit.export_jsonl(session, fh, since=since, until=until)
    console.print(f"exported {count} entries")
