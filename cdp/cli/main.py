"""The `cdp` command. Every subcommand calls the same service functions as GraphQL.

CLI commands act for the operator on the machine: role admin, with the purpose given by --purpose, through
the same access gate as every other door.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdp import db
from cdp.access.gate import AccessContext
from cdp.auth.service import AuthError, create_api_key, list_api_keys, revoke_api_key, rotate_api_key
from cdp.cli.activation import outbox_app, source_app, worker
from cdp.cli.audit import audit_app
from cdp.cli.common import configure_logging, console, fail, open_store
from cdp.cli.compliance import incident_app, ropa_command, staff_app
from cdp.cli.dsr import dsr_app, retention_app
from cdp.cli.identity import identity_app, merge, unmerge
from cdp.cli.marketing import aggregates, segment_app, traits_app
from cdp.cli.operations import operations_app
from cdp.cli.scan import scan
from cdp.crypto.keystore import KeyStore, RetireRefused
from cdp.crypto.master import MasterKeyError, MasterKeyRing, init_key_file, load_key_ring, write_key_file
from cdp.settings import Settings, get_settings
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
app.add_typer(operations_app, name="operations")
app.command("scan")(scan)
app.add_typer(staff_app, name="staff")
app.add_typer(incident_app, name="incident")
app.command("ropa")(ropa_command)
app.add_typer(source_app, name="source")
app.add_typer(outbox_app, name="outbox")
app.command("worker")(worker)
app.add_typer(identity_app, name="identity")
app.command("merge")(merge)
app.command("unmerge")(unmerge)
app.add_typer(traits_app, name="traits")
app.add_typer(segment_app, name="segment")
app.command("aggregates")(aggregates)


@db_app.command("upgrade")
def db_upgrade(
    create_roles: bool = typer.Option(
        False, "--create-roles", help="PostgreSQL: give the tables to --owner-role and grant --app-role DML."
    ),
    owner_role: str = typer.Option("cdp_owner", help="Role that owns the tables (NOLOGIN)."),
    app_role: str = typer.Option("cdp_app", help="Role the application connects as (LOGIN)."),
) -> None:
    """Apply every pending migration to the data database (CDP_DATABASE_URL)."""
    url = get_settings().resolved_database_url()
    db.upgrade(url)
    console.print(f"schema at {db.head_revision()}")
    if create_roles:
        try:
            db.create_roles(url, owner_role, app_role)
        except ValueError as exc:
            raise fail(str(exc)) from None
        console.print(
            f"tables owned by {owner_role}; connect the application as {app_role} "
            f"(set its password with ALTER ROLE {app_role} PASSWORD '...')"
        )


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
    """Phase 1: make a new master key version current, then rewrap every data key under it.

    With a key file, the new version is added to it; running processes load it before they write their next
    key. With CDP_MASTER_KEY, put the new key in first as a higher version (v2:...,v1:...) and restart the
    processes. Older versions stay until `cdp keys retire`. Data is not rewritten; no downtime.
    """
    settings = get_settings()
    ring = _key_ring(settings)
    key_file = None if settings.master_key else settings.resolved_master_key_file()
    if key_file is not None:
        ring = ring.with_new_version()
        write_key_file(key_file, ring)
    keystore = _keystore(settings, ring)
    try:
        version = keystore.make_current()
    except MasterKeyError as exc:
        raise fail(str(exc)) from None
    count = keystore.rewrap_all()
    console.print(f"master key version {version} is current; rewrapped {count} keys under it")
    older = sorted(v for v in ring.keys if v < version)
    if older:
        console.print(f"retire the old version(s) with `cdp keys retire {older[-1]}` (refused while still in use)")


@keys_app.command("rewrap")
def keys_rewrap() -> None:
    """Rewrap every key that is not under the current master key version (e.g. before `cdp keys retire`)."""
    settings = get_settings()
    count = _keystore(settings, _key_ring(settings)).rewrap_all()
    console.print(f"rewrapped {count} keys")


@keys_app.command("retire")
def keys_retire(version: int = typer.Argument(..., help="The old master key version to take out of use.")) -> None:
    """Phase 2: retire an old master key version; refused while any key is still wrapped with it.

    With a key file, the version is then removed from it. With CDP_MASTER_KEY, remove it there yourself.
    """
    settings = get_settings()
    ring = _key_ring(settings)
    try:
        _keystore(settings, ring).retire(version)
    except RetireRefused as exc:
        raise fail(str(exc)) from None
    if not settings.master_key and version in ring.keys:
        write_key_file(settings.resolved_master_key_file(), ring.only(set(ring.keys) - {version}))
    console.print(f"master key version {version} retired")


def _key_ring(settings: Settings) -> MasterKeyRing:
    try:
        return load_key_ring(settings)
    except MasterKeyError as exc:
        raise fail(str(exc)) from None


def _keystore(settings: Settings, ring: MasterKeyRing) -> KeyStore:
    keystore = KeyStore(db.make_engine(settings.resolved_keystore_url()), ring)
    keystore.ensure_schema()
    return keystore


def _expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail("--expires must be an ISO date or time, e.g. 2027-01-31 or 2027-01-31T18:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


EXPIRES_HELP = "Refuse the key from this UTC date or time on (ISO, e.g. 2027-01-31)."


@apikey_app.command("create")
def apikey_create(
    name: str = typer.Option(..., help="Who uses the key, e.g. 'storefront'."),
    role: str = typer.Option(..., help="A role of policies/policy.csv."),
    profile_id: str | None = typer.Option(None, help="For role data_subject: the one profile it may see."),
    expires: str | None = typer.Option(None, help=EXPIRES_HELP),
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from cdp.access.gate import policy_gate

    if role not in policy_gate().roles:
        raise fail(f"unknown role {role!r}; roles: {', '.join(sorted(policy_gate().roles))}")
    if (role == "data_subject") != (profile_id is not None):
        raise fail("a data_subject key needs --profile-id, and only a data_subject key may have one")
    store = open_store()
    with store.session() as session:
        try:
            key, secret = create_api_key(
                session, name=name, role=role, profile_id=profile_id, expires_at=_expiry(expires)
            )
        except ValueError as exc:
            raise fail(str(exc)) from None
        session.commit()
    console.print(f"created key {key.id} ({key.prefix}...) role={role}")
    print(secret)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


@apikey_app.command("list")
def apikey_list(all_: bool = typer.Option(False, "--all", help="Include revoked keys.")) -> None:
    """List API keys: id, prefix, name, role, created, expires, last used (never the secret)."""
    store = open_store()
    with store.session() as session:
        keys = list_api_keys(session, include_revoked=all_)
    print("\t".join(("id", "prefix", "name", "role", "created", "expires", "last_used", "revoked")))
    for key in keys:
        print(
            "\t".join(
                (
                    key.id,
                    key.prefix,
                    key.name,
                    key.role,
                    _when(key.created_at),
                    _when(key.expires_at),
                    _when(key.last_used_at),
                    _when(key.revoked_at),
                )
            )  # fmt: skip
        )


@apikey_app.command("revoke")
def apikey_revoke(key_id: str = typer.Argument(..., help="The key's id (see `cdp apikey list`).")) -> None:
    """Revoke a key: requests with it are refused from now on."""
    store = open_store()
    with store.session() as session:
        try:
            key = revoke_api_key(session, key_id)
        except AuthError as exc:
            raise fail(str(exc)) from None
        session.commit()
    console.print(f"revoked key {key.id} ({key.prefix}...)")


@apikey_app.command("rotate")
def apikey_rotate(
    key_id: str = typer.Argument(..., help="The key's id (see `cdp apikey list`)."),
    expires: str | None = typer.Option(None, help=EXPIRES_HELP + " Default: the old key's expiry."),
) -> None:
    """Replace a key by a new one with the same name and role; the old one is revoked. Prints the new secret."""
    store = open_store()
    with store.session() as session:
        try:
            key, secret = rotate_api_key(session, key_id, expires_at=_expiry(expires))
        except (AuthError, ValueError) as exc:
            raise fail(str(exc)) from None
        session.commit()
    console.print(f"created key {key.id} ({key.prefix}...) role={key.role}; revoked {key_id}")
    print(secret)


@app.command("import")
def import_(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="JSONL events, a CSV customer list or an Amazon order report."
    ),
    fmt: str | None = typer.Option(None, "--format", help="jsonl, csv or amazon (default: by file extension)."),
    source: str | None = typer.Option(None, help="For CSV: the system the list came from."),
    purpose: str = typer.Option("order_fulfillment", help="Purpose of this processing (audited)."),
    workers: int = typer.Option(
        1, min=1, help="Processes ingesting batches in parallel (PostgreSQL; SQLite writes one batch at a time)."
    ),
    batch_size: int | None = typer.Option(None, min=1, help="Lines per batch, one transaction each [default: 500]."),
) -> None:
    """Import a file; bad lines are reported with their number and reason, every good line is stored."""
    from cdp.cli.importer import import_file

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
                workers=workers,
                batch_size=batch_size,
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
        from cdp.cli.activation import start_in_thread

        start_in_thread(store, threading.Event())  # triggers and deliveries while the demo serves
        _serve(store, host, port)


@app.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = typer.Option(1, min=1, help="Server processes; each opens its own store and pools."),
) -> None:
    """Serve GraphQL at http://HOST:PORT/graphql (refuses to start on an outdated schema)."""
    store = open_store()  # checks schema and keys before any worker starts
    if workers == 1:
        _serve(store, host, port)
        return
    from cdp.cli.serving import run_workers

    store.close()
    console.print(f"GraphQL at http://{host}:{port}/graphql ({workers} processes)")
    configure_logging()
    run_workers("cdp.api.app:app_from_environment", workers=workers, host=host, port=port)


def _serve(store: Store, host: str, port: int) -> None:
    import uvicorn

    from cdp.api.app import create_app

    console.print(f"GraphQL at http://{host}:{port}/graphql")
    configure_logging()
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning", log_config=None)


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
