"""The officer's commands: `cdp dsr ...` and `cdp retention run`, end to end on a real store."""

from __future__ import annotations

import json
import zipfile

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cdp.cli.main import app
from cdp.events.models import Event
from cdp.settings import Settings, get_settings
from cdp.store import Store
from tests.factories import event, ingest_all


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - a callable
    monkeypatch.setenv("CDP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CDP_KEYSTORE_URL", settings.keystore_url)
    monkeypatch.setenv("CDP_MASTER_KEY", settings.master_key)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    yield invoke
    get_settings.cache_clear()


def test_officer_creates_verifies_and_runs_an_access_request(cli, store: Store, tmp_path) -> None:
    ingest_all(store, event({"email": "cli@example.pt"}, country="PT", traits={"city": "Porto"}))
    created = json.loads(cli("dsr", "create", "access", "--identifier", "email=CLI@example.pt"))
    assert created["status"] == "received" and created["jurisdiction"] == "EU" and created["profile_id"]
    assert created["id"] in cli("dsr", "list", "--status", "received")
    cli("dsr", "verify", created["id"], "--method", "id_document")
    archive = tmp_path / "export.zip"
    archive.write_bytes(b"an older file")
    archive.chmod(0o644)
    cli("dsr", "run", created["id"], "--output", str(archive))
    assert archive.stat().st_mode & 0o777 == 0o600  # personal data: owner-only, even over a readable file
    data = json.loads(zipfile.ZipFile(archive).read("data.json"))
    assert [t["value"] for t in data["traits"]] == ["Porto"]
    assert json.loads(cli("dsr", "show", created["id"]))["status"] == "completed"
    assert "user.behavior.browsing" in cli("retention", "run", "--dry-run")


def test_officer_restricts_then_lifts_the_restriction(cli, store: Store) -> None:
    ingest_all(store, event({"email": "pause@example.de"}, traits={"city": "Köln"}))
    created = json.loads(cli("dsr", "create", "restriction", "--identifier", "email=pause@example.de"))
    cli("dsr", "verify", created["id"], "--method", "id_document")
    assert json.loads(cli("dsr", "run", created["id"]))["status"] == "restricted"
    lifted = json.loads(cli("dsr", "lift-restriction", created["id"]))
    assert lifted == {"status": "active", "profile_ids": [created["profile_id"]]}


def test_retention_run_gives_defaulted_rows_their_month_and_drops_it_when_all_expired(cli, store: Store) -> None:
    ingest_all(store, event({"email": "old@example.de"}, type="page_view", occurred_at="2015-03-02T10:00:00+00:00"))
    dry = cli("retention", "run", "--dry-run")
    ran = cli("retention", "run")
    if store.engine.dialect.name == "postgresql":  # the page view sat in the default partition until this run
        assert "would drop whole month partitions (every row expired): 2015-03" in " ".join(dry.split())
        assert "dropped whole month partitions (every row expired): 2015-03" in " ".join(ran.split())
    else:
        assert "month partitions" not in dry + ran
    with store.session() as s:
        assert s.execute(select(func.count()).select_from(Event)).scalar_one() == 0  # gone either way
