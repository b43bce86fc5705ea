"""`cdp operations`: the trusted documents under graphql/operations and their manifest."""

from __future__ import annotations

from pathlib import Path

import typer

from cdp.api.settings import DEFAULT_MANIFEST
from cdp.api.trusted import DocumentError, manifest_text, read_documents
from cdp.cli.common import console, fail

operations_app = typer.Typer(help="Trusted GraphQL documents.")


@operations_app.command("manifest")
def operations_manifest(
    folder: Path = typer.Option(DEFAULT_MANIFEST.parent, help="The operations folder."),
    output: Path | None = typer.Option(None, help="Where to write it (default: FOLDER/manifest.json)."),
) -> None:
    """Write the manifest of trusted documents (sha256 of each), which the server accepts by hash."""
    try:
        documents = read_documents(folder)
    except DocumentError as exc:
        raise fail(str(exc)) from None
    target = output or folder / "manifest.json"
    target.write_text(manifest_text(documents), encoding="utf-8")
    console.print(f"{len(documents)} trusted documents written to {target}")
