"""What every `cdp` subcommand shares: the console for messages and opening the store."""

from __future__ import annotations

import logging

import typer
from rich.console import Console

from cdp import db
from cdp.crypto.master import MasterKeyError
from cdp.settings import Settings
from cdp.store import Store

console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def open_store(settings: Settings | None = None) -> Store:
    try:
        return Store.open(settings)
    except (db.SchemaOutdated, db.DatabaseRoleError, MasterKeyError) as exc:
        raise fail(str(exc)) from None


def configure_logging() -> None:
    """For `cdp serve`: the access log and the mail outbox's lines on stderr, one per line, at INFO."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("cdp", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.INFO)
