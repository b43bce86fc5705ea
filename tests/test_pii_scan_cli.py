"""`cdp scan`: finds personal data planted in plaintext columns (never printing it), exits non-zero, records the
findings for GraphQL; passes on a database loaded with the demo data through ingest."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cdp.cli.main import app
from cdp.demo import generate_demo
from cdp.events.models import Event
from cdp.ingest.service import ingest
from cdp.profiles.models import Trait
from cdp.settings import Settings, get_settings
from cdp.store import Store
from tests.factories import OPERATOR, event, ingest_all
from tests.graphql_client import GraphQLClient

SCAN_FINDINGS = """
query Findings($first: Int!, $after: String) {
  scanFindings(first: $first, after: $after) {
    scan { findingCount }
    nodes { table column rowId entityType }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose `cdp` uses the test's databases and key (settings come from the environment)."""
    for name, value in {
        "CDP_DATA_DIR": str(settings.data_dir),
        "CDP_DATABASE_URL": settings.database_url,
        "CDP_KEYSTORE_URL": settings.keystore_url,
        "CDP_MASTER_KEY": settings.master_key,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_scan_reports_planted_plaintext_without_printing_it(store: Store, cli: CliRunner) -> None:
    [planted, clean] = ingest_all(
        store,
        event({"email": "anna@example.de"}, traits={"wechat": "anna_wx"}),
        event({"email": "bob@example.de"}),
    )
    with store.engine.begin() as conn:  # what buggy writers could do: personal values in plaintext columns
        conn.execute(
            sa.update(Event.__table__)
            .where(Event.__table__.c.id == planted.event_id)
            .values(source_event_id="newsletter-anna@example.de")
        )
        conn.execute(sa.update(Trait.__table__).values(name="wechat_13812345678"))
        trait_id = conn.execute(sa.select(Trait.__table__.c.id)).scalar_one()

    result = cli.invoke(app, ["scan", "--json"])

    assert result.exit_code == 1, result.output
    assert "anna@example.de" not in result.output and "13812345678" not in result.output
    found = {(f["table"], f["column"], f["row_id"], f["entity_type"]) for f in json.loads(result.stdout)}
    assert found == {
        ("event", "source_event_id", planted.event_id, "EMAIL_ADDRESS"),
        ("trait", "name", trait_id, "CN_MOBILE"),
    }
    assert clean.event_id not in result.stdout

    client = GraphQLClient(store)
    officer = client.key("compliance_officer")
    first = client.query(SCAN_FINDINGS, {"first": 1}, key=officer, purpose="legal_compliance")["data"]["scanFindings"]
    cursor = first["pageInfo"]["endCursor"]
    rest = client.query(SCAN_FINDINGS, {"first": 10, "after": cursor}, key=officer, purpose="legal_compliance")
    nodes = first["nodes"] + rest["data"]["scanFindings"]["nodes"]
    assert first["scan"] == {"findingCount": 2} and first["pageInfo"]["hasNextPage"] is True
    assert {(n["table"], n["column"], n["rowId"], n["entityType"]) for n in nodes} == found
    denied = client.query(SCAN_FINDINGS, {"first": 10}, key=client.key("analyst"), purpose="analytics")
    assert denied.get("data") is None and "system.pii_findings" in denied["errors"][0]["message"]


def test_scan_passes_on_demo_data_loaded_through_ingest(store: Store, cli: CliRunner) -> None:
    events = generate_demo(people=150).events
    for start in range(0, len(events), 500):
        outcomes = store.run(lambda s, batch=events[start : start + 500]: ingest(s, store, OPERATOR, batch))
        assert {o.status for o in outcomes} <= {"stored", "duplicate"}
    with store.engine.connect() as conn:  # tickets and reviews went through classification: redacted copies
        redacted = conn.execute(sa.select(sa.func.count()).where(Event.__table__.c.redacted_ct.is_not(None)))
        assert redacted.scalar_one() > 50

    result = cli.invoke(app, ["scan"])

    assert result.exit_code == 0, result.output
    assert "no personal data found" in result.output
