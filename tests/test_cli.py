"""The operator's commands: schema currency, key management, API keys."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdp.cli.main import app
from cdp.crypto.master import load_key_ring
from cdp.settings import Settings, get_settings
from cdp.store import Store
from tests import reads
from tests.factories import event, ingest_all

runner = CliRunner()


@pytest.fixture
def key_file_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh data dir with no master key: the key file is what `cdp keys` manages."""
    data = tmp_path / "data"
    monkeypatch.setenv("CDP_DATA_DIR", str(data))
    for name in ("CDP_MASTER_KEY", "CDP_DATABASE_URL", "CDP_KEYSTORE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield Settings(data_dir=data)
    get_settings.cache_clear()


def test_server_refuses_an_outdated_schema_and_names_the_command(key_file_env: Settings) -> None:
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "database schema is at revision none (empty database)" in result.output
    assert "run `cdp db upgrade`" in result.output
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0


def test_keys_init_rotate_keep_data_readable(key_file_env: Settings) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    init = runner.invoke(app, ["keys", "init"])
    assert init.exit_code == 0
    key_file = key_file_env.resolved_master_key_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = runner.invoke(app, ["keys", "init"])
    assert again.exit_code == 1 and "refusing to overwrite" in again.output

    store = Store.open(key_file_env)
    [outcome] = ingest_all(store, event({"email": "rotate@example.com"}, traits={"city": "Porto"}))
    store.close()
    rotated = runner.invoke(app, ["keys", "rotate"])
    # the profile's data key, the blind-index key and the audit checkpoint key
    assert rotated.exit_code == 0 and "master key version 2 is current; rewrapped 3 keys" in rotated.output
    assert set(load_key_ring(key_file_env).keys) == {1, 2}  # phase 1 keeps the old version for running processes
    retired = runner.invoke(app, ["keys", "retire", "1"])
    assert retired.exit_code == 0, retired.output
    assert set(load_key_ring(key_file_env).keys) == {2}  # phase 2: the retired version is gone from the file

    reopened = Store.open(key_file_env)
    with reopened.session() as s:
        assert reads.traits(s, reopened, outcome.profile_id)["city"].value == "Porto"
    reopened.close()


def test_apikey_create_prints_the_secret_once(cli_env: Settings) -> None:
    created = runner.invoke(app, ["apikey", "create", "--name", "storefront", "--role", "frontend_app"])
    assert created.exit_code == 0
    assert created.stdout.strip().startswith("cdp_")
    unknown = runner.invoke(app, ["apikey", "create", "--name", "x", "--role", "wizard"])
    assert unknown.exit_code == 1 and "unknown role 'wizard'" in unknown.output
    subject = runner.invoke(app, ["apikey", "create", "--name", "x", "--role", "data_subject"])
    assert subject.exit_code == 1 and "needs --profile-id" in subject.output
