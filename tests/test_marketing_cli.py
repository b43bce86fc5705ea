"""`cdp traits compute`, `cdp segment create/list/evaluate/export` and `cdp aggregates` on a fresh database,
and the segments the demo ships."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from audit.models import AuditEntry
from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.cli.main import app
from cdp.consents.service import record_consent
from cdp.demo.load import load_demo
from cdp.profiles.service import load_group
from cdp.segments import audience
from cdp.settings import Settings
from cdp.store import Store
from tests.factories import ingest_all, order

runner = CliRunner()
SEGMENT = """
name: french-speakers
description: Everyone whose language is French
where: {field: language, op: eq, value: fr}
"""


def _shop(store: Store) -> dict[str, str]:
    ids = {}
    for name, country in (("amelie", "FR"), ("bastien", "FR"), ("chloe", "CA")):
        [o] = ingest_all(store, order({"email": f"{name}@example.fr"}, country=country,
                                      traits={"language": "fr", "first_name": name.title()}))  # fmt: skip
        ids[name] = o.profile_id
    with store.session() as s:
        record_consent(s, AccessContext.operator("marketing.email"), profile_id=ids["amelie"],
                       purpose="marketing.email", status="granted", source="checkout")  # fmt: skip
        s.commit()
    return ids


def test_segment_commands(cli_env: Settings, store: Store, tmp_path: Path) -> None:
    ids = _shop(store)
    computed = runner.invoke(app, ["traits", "compute"])
    assert computed.exit_code == 0, computed.output
    assert "computed traits of 3 customers" in computed.output

    definition = tmp_path / "seg.yaml"
    definition.write_text(SEGMENT)
    created = runner.invoke(app, ["segment", "create", "--file", str(definition)])
    assert created.exit_code == 0, created.output
    assert "segment french-speakers v1: 3 members (3 entered, 0 exited)" in created.output
    listed = runner.invoke(app, ["segment", "list"])
    assert "french-speakers" in listed.output

    exported = runner.invoke(app, ["segment", "export", "french-speakers", "--purpose", "marketing.email",
                                   "--destination-country", "FR", "--format", "csv"])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(r["id"], r["email"], r["first_name"]) for r in rows] == [(ids["amelie"], "amelie@example.fr", "Amelie")]
    assert "bastien" not in exported.stdout and ids["bastien"] not in exported.stdout

    export = ["segment", "export", "french-speakers", "--purpose", "marketing.email", "--destination-country", "FR"]
    jsonl = runner.invoke(app, [*export, "--format", "jsonl", "--fields", "email,r_score"])
    assert jsonl.exit_code == 0, jsonl.output
    [line] = [json.loads(x) for x in jsonl.stdout.splitlines()]
    assert set(line) == {"id", "entered_at", "email", "r_score"} and line["email"] == "amelie@example.fr"
    with store.session() as s:
        exports = s.execute(select(AuditEntry).where(AuditEntry.operation == "segment.export")).scalars().all()
    assert [e.subject_id_list for e in exports] == [[ids["amelie"]], [ids["amelie"]]]
    assert "fields: id, entered_at, email, r_score" in exports[1].detail

    bad = runner.invoke(app, [*export, "--format", "xml"])
    assert bad.exit_code == 1 and "--format: csv or jsonl" in bad.output
    definition.write_text("name: broken\nwhere: {field: r_score, op: gte, value: 7}\n")
    refused = runner.invoke(app, ["segment", "create", "--file", str(definition)])
    assert refused.exit_code == 1 and "where.value: r_score takes whole numbers from 1 to 5" in refused.output

    floor = runner.invoke(app, ["aggregates", "--by", "country", "--k", "3"])
    assert floor.exit_code == 1 and "k: at least 10" in floor.output
    none = runner.invoke(app, ["aggregates", "--by", "country"])
    assert none.exit_code == 0 and json.loads(none.stdout) == []  # 3 customers: below the floor


def test_demo_ships_segments_whose_audiences_are_consented(store: Store) -> None:
    summary = load_demo(store, people=300, seed=7, access=AccessContext.operator("order_fulfillment"))
    names = set(summary["segments"])
    assert {"high-value-eu-email", "birthday-this-month-email", "at-risk-de", "at-risk-ja"} <= names
    assert summary["segments"]["high-value-eu-email"] > 0
    tool = AccessContext.for_principal(Principal("k", "esp", "marketing_tool"), "marketing.email")
    with store.session() as s:
        _, members = audience.member_page(s, store, tool, "high-value-eu-email", destination_country="DE", first=100)
        assert members
        assert all(tool.blocked_reason(s, load_group(s, m.profile_id)) is None for m in members)
