"""The `cdp` command. Every subcommand calls the same service functions as GraphQL.

CLI commands act for the operator on the machine: role admin, with the purpose given by --purpose, through
the same access gate as every other door.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdp import db
from cdp.access.gate import AccessContext
from cdp.auth.service import create_api_key
from cdp.cli.audit import audit_app
from cdp.cli.common import console, fail, open_store
from cdp.cli.dsr import dsr_app, retention_app
from cdp.cli.marketing import aggregates, segment_app, traits_app
from cdp.cli.scan import scan
from cdp.crypto.keystore import KeyStore
from cdp.crypto.master import MasterKeyError, init_key_file, load_key_ring, write_key_file
from cdp.settings import get_settings
from cdp.store import Store

app = typer.Typer(help="cdp: privacy-first customer data platform", no_args_is_help=True)
db_app = typer.Typer(help="Data database schema.")
keys_app = typer.Typer(help="Master key and data keys.")
apikey_app = typer.Typer(help="API keys.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(apikey_app, name="apikey")
app.add_typer(dsr_app, name="dsr")
app.add_typer(retention_app, name="retention")
app.add_typer(audit_app, name="audit")
app.command("scan")(scan)
app.add_typer(traits_app, name="traits")
app.add_typer(segment_app, name="segment")
app.command("aggregates")(aggregates)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to the data database (CDP_DATABASE_URL)."""
    url = get_settings().resolved_database_url()
    db.upgrade(url)
    console.print(f"schema at {db.head_revision()}")


@keys_app.command("init")
def keys_init() -> None:
    """Create the master key file (mode 0600) under CDP_DATA_DIR, unless CDP_MASTER_KEY is set."""
    settings = get_settings()
    if settings.master_key:
        raise fail("CDP_MASTER_KEY is set; the key file is not used")
    try:
        init_key_file(settings.resolved_master_key_file())
    except MasterKeyError as exc:
        raise fail(str(exc)) from None
    console.print(f"master key written to {settings.resolved_master_key_file()} (0600); back it up apart from data")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Rewrap every data key under a new master key version. Data is not rewritten; no downtime.

    With a key file, a new version is added to it, keys are rewrapped, then retired versions are removed.
    With CDP_MASTER_KEY, put the new key first as a higher version (v2:...,v1:...) before running this.
    """
    settings = get_settings()
    try:
        ring = load_key_ring(settings)
    except MasterKeyError as exc:
        raise fail(str(exc)) from None
    key_file = None if settings.master_key else settings.resolved_master_key_file()
    if key_file is not None:
        ring = ring.with_new_version()
        write_key_file(key_file, ring)
    from cdp.db import make_engine

    keystore = KeyStore(make_engine(settings.resolved_keystore_url()), ring)
    keystore.ensure_schema()
    count = keystore.rewrap_all()
    if key_file is not None:
        write_key_file(key_file, ring.only(keystore.versions_in_use() | {ring.current_version}))
    console.print(f"rewrapped {count} keys under master key version {ring.current_version}")


@apikey_app.command("create")
def apikey_create(
    name: str = typer.Option(..., help="Who uses the key, e.g. 'storefront'."),
    role: str = typer.Option(..., help="A role of policies/policy.csv."),
    profile_id: str | None = typer.Option(None, help="For role data_subject: the one profile it may see."),
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from cdp.access.gate import policy_gate

    if role not in policy_gate().roles:
        raise fail(f"unknown role {role!r}; roles: {', '.join(sorted(policy_gate().roles))}")
    if (role == "data_subject") != (profile_id is not None):
        raise fail("a data_subject key needs --profile-id, and only a data_subject key may have one")
    store = open_store()
    with store.session() as session:
        key, secret = create_api_key(session, name=name, role=role, profile_id=profile_id)
        session.commit()
    console.print(f"created key {key.id} ({key.prefix}...) role={role}")
    print(secret)


@app.command("import")
def import_(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL events or a CSV customer list."),
    fmt: str | None = typer.Option(None, "--format", help="jsonl or csv (default: by file extension)."),
    source: str | None = typer.Option(None, help="For CSV: the system the list came from."),
    purpose: str = typer.Option("order_fulfillment", help="Purpose of this processing (audited)."),
) -> None:
    """Import a file; bad lines are reported with their number and reason, every good line is stored."""
    from cdp.ingest.importer import import_file

    store = open_store()
    total = sum(1 for _ in path.open(encoding="utf-8", errors="replace"))
    with Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("import", total=total)
        try:
            report = import_file(
                store,
                path,
                fmt=fmt,
                source=source,
                access=AccessContext.operator(purpose),
                on_progress=lambda n: bar.advance(task, n),
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise fail(str(exc)) from None
    for err in report.rejected:
        console.print(f"line {err.line}: " + "; ".join(err.errors))
    console.print(
        f"{report.stored} stored, {report.duplicates} duplicates, {len(report.rejected)} rejected "
        f"of {report.lines} lines; {report.merges} merges, {report.review_items} review items"
    )
    if report.rejected:
        raise typer.Exit(1)


@app.command("demo")
def demo(
    people: int = typer.Option(2000, help="How many people to generate."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same data."),
    serve: bool = typer.Option(False, "--serve", help="Start the GraphQL server afterwards."),
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Generate and load a cross-border demo dataset (deterministic), create an admin key, print a summary."""
    from cdp.demo.load import load_demo

    settings = get_settings()
    db.upgrade(settings.resolved_database_url())
    if not settings.master_key and not settings.resolved_master_key_file().exists():
        init_key_file(settings.resolved_master_key_file())
    store = open_store(settings)
    summary = load_demo(
        store, people=people, seed=seed, access=AccessContext.operator("order_fulfillment"), console=console
    )
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if serve:
        _serve(store, host, port)


@app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve GraphQL at http://HOST:PORT/graphql (refuses to start on an outdated schema)."""
    _serve(open_store(), host, port)


def _serve(store: Store, host: str, port: int) -> None:
    import uvicorn

    from cdp.api.app import create_app

    console.print(f"GraphQL at http://{host}:{port}/graphql")
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")


@app.command("merge")
def merge(survivor_id: str, absorbed_id: str) -> None:
    """Merge two customers (the identity rules still apply)."""
    from cdp.identity.resolve import MergeError, merge_profiles

    store = open_store()
    with store.session() as session:
        try:
            record_id = merge_profiles(
                session, store.keystore, survivor_id, absorbed_id, actor=f"cli:{getpass.getuser()}"
            )
        except MergeError as exc:
            raise fail(str(exc)) from None
        session.commit()
    console.print(f"merged {absorbed_id} into {survivor_id} (merge {record_id})")


@app.command("unmerge")
def unmerge(profile_id: str) -> None:
    """Undo the merge that absorbed PROFILE_ID."""
    from cdp.identity.resolve import MergeError
    from cdp.identity.resolve import unmerge as unmerge_profile

    store = open_store()
    with store.session() as session:
        try:
            unmerge_profile(session, profile_id)
        except MergeError as exc:
            raise fail(str(exc)) from None
        session.commit()
    console.print(f"unmerged {profile_id}")


@app.command("schema")
def schema(output: Path | None = typer.Option(None, help="Write the SDL here instead of stdout.")) -> None:
    """Print the GraphQL SDL (graphql/schema.graphql is this output, checked for drift by a test)."""
    from cdp.api.app import build_schema

    sdl = build_schema(production=False).as_str() + "\n"
    if output:
        output.write_text(sdl)
    else:
        sys.stdout.write(sdl)


if __name__ == "__main__":
    app()
