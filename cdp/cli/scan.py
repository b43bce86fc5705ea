"""`cdp scan`: the leak scanner over the data database.

Reads only plaintext columns (ciphertext is skipped), so it needs no keys: a compliance officer can run it
against a copy or a backup. Exit status 0 when nothing is found, 1 when personal data is stored in plaintext,
2 when the scan could not run.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from cdp.cli.common import console, fail
from cdp.db import SchemaOutdated, check_schema, make_engine
from cdp.ids import utcnow
from cdp.pii.discovered import record_scan
from cdp.pii.scanner import scan_database
from cdp.settings import get_settings

# Plaintext columns that hold no personal data by construction: ids the application generates, hashes and key
# prefixes, closed vocabularies (types, kinds, statuses, currencies, categories, validated source names), and
# the scanner's own results (which repeat the row ids of leaking rows). Everything else is scanned, including
# values that come from outside even when they look technical (event.source_event_id, trait.name) and
# discovered_field.location (built from JSON keys). Tables not listed are scanned whole.
NON_PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "alembic_version": ("version_num",),
    "profile": ("id", "merged_into", "jurisdiction", "status"),
    "identity": ("id", "profile_id", "kind", "source"),
    "trait": ("id", "profile_id", "category", "source"),
    "event": ("id", "profile_id", "source", "type", "currency", "base_currency"),
    "event_key": ("event_id", "profile_id", "source"),
    "merge_record": ("id", "survivor_id", "absorbed_id", "identifier_kind", "identity_id", "event_id"),
    "review_item": ("id", "profile_ids", "identifier_kind", "event_id", "status"),
    "api_key": ("id", "role", "prefix", "key_hash", "profile_id"),
    "audit_entry": ("id", "role", "purpose", "document_hash", "subject_ids", "categories", "outcome", "prev_hash",
                    "entry_hash"),
    "consent_record": ("id", "profile_id", "purpose", "status", "legal_basis", "jurisdiction", "source",
                       "notice_version", "notice_text_hash"),
    "discovered_field": ("id", "entity_type", "category"),
    "pii_scan": ("id",),
    "pii_scan_finding": ("scan_id", "table_name", "column_name", "row_id", "entity_type"),
}  # fmt: skip
EXCLUDED = frozenset((table, column) for table, columns in NON_PERSONAL_COLUMNS.items() for column in columns)


def scan(
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON instead of a table."),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Store this scan's findings (GraphQL: lastScan, scanFindings)."
    ),
) -> None:
    """Scan the data database for personal data stored in plaintext; exit 1 when anything is found.

    Prints table, column, row id and entity type of each finding, never the value.
    """
    engine = make_engine(get_settings().resolved_database_url())
    try:
        if record:
            check_schema(engine)
        started_at = utcnow()
        findings = scan_database(engine, exclude=EXCLUDED)
        if record:
            with Session(engine) as session:
                record_scan(session, started_at, findings)
                session.commit()
    except SchemaOutdated as exc:
        raise fail(str(exc), code=2) from None
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    elif findings:
        table = Table("table", "column", "row id", "entity type", "score")
        for f in findings:
            table.add_row(f.table, f.column, f.row_id, f.entity_type, f"{f.score:.2f}")
        Console().print(table)
    cells = len({(f.table, f.column, f.row_id) for f in findings})
    if findings:
        console.print(f"[red]{len(findings)} finding(s) of personal data in plaintext, in {cells} cell(s)[/red]")
        raise typer.Exit(1)
    console.print("no personal data found in plaintext columns")
