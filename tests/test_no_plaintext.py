"""After `cdp demo`, the raw bytes of the data database hold none of the demo's personal values."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from cdp.cli.main import app
from cdp.demo import generate_demo
from cdp.settings import Settings

runner = CliRunner()
PEOPLE = 2000
EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
E164 = re.compile(rb"\+[1-9][0-9]{7,14}")


def raw_bytes(database_url: str) -> bytes:
    """SQLite: the database files themselves (main, WAL). PostgreSQL: every row of every table, as stored."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        engine = create_engine(database_url)
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
        engine.dispose()
        return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    engine = create_engine(database_url)
    metadata = MetaData()
    metadata.reflect(engine)
    chunks: list[bytes] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    chunks.append(bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode())
    engine.dispose()
    return b"\x00".join(chunks)


def test_demo_database_holds_no_personal_plaintext(cli_env: Settings) -> None:
    result = runner.invoke(app, ["demo", "--people", str(PEOPLE)])
    assert result.exit_code == 0, result.output
    assert '"customers_after_resolution"' in result.stdout
    blob = raw_bytes(cli_env.database_url)
    people = generate_demo(people=PEOPLE).people

    emails = {e.strip().lower().encode() for p in people for e in p.emails}
    phones = {ph.encode() for p in people for ph in p.phones if ph.startswith("+")}
    found_emails = {m.group().lower() for m in EMAIL.finditer(blob)}
    found_phones = {m.group() for m in E164.finditer(blob)}
    assert emails and not (emails & found_emails)
    assert phones and not (phones & found_phones)

    # Every value of every tenth person, byte for byte: names and addresses in their own scripts, cities,
    # postal codes, birthdays, platform ids, phones in national formats.
    # Short all-digit values (postal codes) turn up by chance inside hex ids and hashes: left out.
    sample = [v for p in people[::10] for v in p.personal_values(min_bytes=6) if not (v.isdigit() and len(v) < 9)]
    assert any(re.search(r"[\u4e00-\u9fff]", v) for v in sample)  # CJK is in the sample
    leaked = [v for v in sample if v.encode() in blob]
    assert not leaked, f"{len(leaked)} personal values found in plaintext"
