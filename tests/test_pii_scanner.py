"""Leak scanner over throw-away tables, on SQLite and (where configured) PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid

import sqlalchemy as sa

from cdp.pii.scanner import ScanFinding, scan_database

EMAIL = "maria.silva@example.com.br"
CPF = "123.456.789-09"


def make_tables(engine: sa.Engine) -> None:
    metadata = sa.MetaData()
    customers = sa.Table(
        "leaky_customer",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("note", sa.Text),
        sa.Column("attrs", sa.JSON),
        sa.Column("ciphertext", sa.LargeBinary),
        sa.Column("internal_memo", sa.String(200)),
        sa.Column("status", sa.Enum("active", "erased", name="leaky_status")),
    )
    clean = sa.Table(
        "clean_order",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("payload_hash", sa.String(64)),
        sa.Column("created_at", sa.String(40)),
        sa.Column("currency", sa.String(3)),
        sa.Column("amount", sa.String(20)),
        sa.Column("meta", sa.JSON),
        sa.Column("scanned_at", sa.DateTime),
    )
    no_pk = sa.Table("raw_import_line", metadata, sa.Column("line", sa.Text))
    metadata.create_all(engine)
    with engine.begin() as conn:
        rows = [
            {"id": "c-1", "note": f"customer wrote from {EMAIL}", "attrs": {"tier": "gold"}},
            # Plaintext CPF nested in JSON, and a leak in bytes that must be ignored (ciphertext column).
            {
                "id": "c-2",
                "note": "all good",
                "attrs": {"profile": {"docs": [{"cpf": CPF}]}},
                "ciphertext": EMAIL.encode(),
            },
            # An excluded column is not read, whatever it holds.
            {"id": "c-3", "note": None, "attrs": None, "internal_memo": f"cc {EMAIL}", "status": "active"},
            # Two checksum-valid bare CPFs: the JSON key makes one a CPF and the other an order number.
            {"id": "c-4", "attrs": {"cpf": "12345678909", "order": "98765432100"}},
        ]
        for row in rows:  # one statement each: the rows set different columns
            conn.execute(customers.insert().values(**row))
        conn.execute(
            clean.insert(),
            [
                {
                    "id": str(uuid.uuid4()),
                    "payload_hash": hashlib.sha256(str(i).encode()).hexdigest(),
                    "created_at": f"2026-01-{i + 1:02d}T10:00:00+00:00",
                    "currency": "EUR",
                    "amount": "12345",
                    "meta": {
                        "request_id": str(uuid.uuid4()),
                        "sha": hashlib.sha256(b"x").hexdigest(),
                        "qty": 3,
                    },
                }
                for i in range(30)
            ],
        )
        conn.execute(no_pk.insert(), [{"line": "ok"}, {"line": f"tel +49 30 12345678, {EMAIL}"}])


def test_scan_finds_plaintext_pii_and_nothing_else(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        make_tables(engine)
        findings = scan_database(engine, exclude={("leaky_customer", "internal_memo")}, batch_size=7)
    finally:
        engine.dispose()

    assert [(f.table, f.column, f.row_id, f.entity_type) for f in findings] == [
        ("leaky_customer", "attrs", "c-2", "BR_CPF"),
        ("leaky_customer", "attrs", "c-4", "BR_CPF"),
        ("leaky_customer", "note", "c-1", "EMAIL_ADDRESS"),
        ("raw_import_line", "line", "#2", "EMAIL_ADDRESS"),
        ("raw_import_line", "line", "#2", "PHONE_NUMBER"),
    ]
    assert all(0.5 <= f.score <= 1.0 for f in findings)
    for finding in findings:
        shown = repr(finding) + str(finding)
        assert EMAIL not in shown and "maria" not in shown and CPF not in shown and "12345678909" not in shown


def test_empty_database_yields_nothing(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        assert scan_database(engine) == []
    finally:
        engine.dispose()


def test_scan_finding_fields() -> None:
    assert [f.name for f in ScanFinding.__dataclass_fields__.values()] == [
        "table",
        "column",
        "row_id",
        "entity_type",
        "score",
    ]
