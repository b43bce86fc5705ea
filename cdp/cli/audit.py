"""`cdp audit verify|export`: for compliance officers and auditors."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import typer

import audit
from cdp.access import checkpoints
from cdp.cli.common import console, open_store

audit_app = typer.Typer(help="The hash-chained audit log.")


@audit_app.command("verify")
def verify(
    anchor: str | None = typer.Option(None, help="SEQ:HASH recorded elsewhere, checked as well as the checkpoint."),
) -> None:
    """Recompute the hash chain and compare it with the newest signed checkpoint (kept in the key store);
    exit 1 naming the first broken entry or the missing tail. Writes a new checkpoint when intact."""
    expected = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            console.print("[red]error:[/red] --anchor must be SEQ:HASH (from a previous verify)")
            raise typer.Exit(2)
        expected = (int(seq), digest)
    store = open_store()
    result, checkpoint = checkpoints.verify_log(store)
    if result.ok and expected is not None:
        with store.session() as session:
            result = audit.verify(session, anchor=expected)
    if not result.ok:
        where = "" if result.first_broken_seq is None else f" at entry {result.first_broken_seq}"
        console.print(f"[red]BROKEN[/red]{where}: {result.reason}")
        raise typer.Exit(1)
    console.print(f"ok: {result.entries_checked} entries verified")
    if checkpoint is None:
        console.print("no earlier checkpoint: the tail is protected from now on")
    else:
        console.print(f"matches the checkpoint of {checkpoint.at.isoformat()} (entry {checkpoint.seq})")


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
