"""The file door: `cdp import` reports each bad line with its number and reason and stores every good one."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from cdp.cli.main import app
from cdp.events.models import Event
from cdp.identity.models import Profile
from cdp.settings import Settings
from cdp.store import Store
from tests.factories import event, order

runner = CliRunner()


def _count(settings: Settings, model: type) -> int:
    store = Store.open(settings)
    try:
        with store.session() as s:
            return s.execute(select(func.count()).select_from(model)).scalar_one()
    finally:
        store.close()


def test_jsonl_import_reports_bad_lines_and_keeps_good_ones(cli_env: Settings, tmp_path: Path) -> None:
    lines = [
        json.dumps(order({"email": "ok1@example.com"}, source_event_id="o-1")),
        '{"source": "shopify", "source_event_id": broken',
        json.dumps(event({"email": "ok2@example.com"}, type="teleport")),
        json.dumps(event({"email": "not-an-email"})),
        json.dumps(event({"phone": "123"}, country="US")),
        "",
        json.dumps(order({"email": "ok3@example.com"}, source_event_id="o-3", total="12.345")),
        json.dumps(order({"email": "ok4@example.com"}, source_event_id="o-4")),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "line 2: malformed JSON" in out
    assert "line 3: type: unknown event type" in out
    assert "line 4: identifiers.email: not a valid address" in out
    assert "line 5: identifiers.phone: not a valid number for US" in out
    assert "line 7: properties.total: amount has more decimals than EUR allows" in out
    assert "2 stored, 0 duplicates, 5 rejected of 7 lines" in out
    assert "not-an-email" not in out  # errors name the rule, never the value
    assert _count(cli_env, Event) == 2

    again = runner.invoke(app, ["import", str(path)])
    assert "0 stored, 2 duplicates" in again.output  # re-sent events are stored once
    assert _count(cli_env, Event) == 2


def test_csv_customer_list_import_is_idempotent(cli_env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "email,phone,first_name,last_name,country,loyalty_tier\n"
        "ana@example.br,(11) 91234-5678,Ana,Sousa,BR,gold\n"
        "bad-email,,X,Y,BR,\n"
        "ANA@example.br,,Ana,Sousa,BR,gold\n"
    )
    result = runner.invoke(app, ["import", str(path), "--source", "shop-export"])
    assert result.exit_code == 1
    assert "line 3: identifiers.email: not a valid address" in result.output
    assert "2 stored" in result.output
    assert _count(cli_env, Profile) == 1  # the two good lines are one customer
    again = runner.invoke(app, ["import", str(path), "--source", "shop-export"])
    assert "0 stored, 2 duplicates" in again.output


def test_csv_needs_a_source(cli_env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("email\na@example.com\n")
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 1
    assert "needs --source" in result.output
