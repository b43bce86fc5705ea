"""Every read of personal data and every denial leaves an audit entry; tampering is detected and named."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy import event as sa_event
from typer.testing import CliRunner

import audit
from audit.models import AuditEntry
from cdp.cli.main import app
from cdp.settings import Settings
from cdp.store import Store
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient, live_server, operations

runner = CliRunner()


def _entries(store: Store) -> list[AuditEntry]:
    with store.session() as s:
        return list(s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


def test_reads_and_denials_are_audited_without_values(store: Store, gql: GraphQLClient) -> None:
    [outcome] = ingest_all(store, event({"email": "audit.me@example.de"}, traits={"first_name": "Greta"}))
    pid = outcome.profile_id
    assert [e.operation for e in _entries(store)] == ["ingest"]  # the write itself is audited

    support, analyst = gql.key("support_agent"), gql.key("analyst")
    gql.run("SupportLookup", {"email": "audit.me@example.de"}, key=support, purpose="support")
    read = _entries(store)[-1]
    assert (read.operation, read.outcome, read.purpose, read.role) == (
        "graphql:SupportLookup",
        "allowed",
        "support",
        "support_agent",
    )
    assert read.subject_id_list == [pid]
    assert {"user.contact.email", "user.name"} <= set(read.category_list)

    denied = gql.run("CustomerByEmail", {"email": "audit.me@example.de"}, key=analyst, purpose="analytics")
    assert denied.get("data") is None and "access denied" in denied["errors"][0]["message"]
    refusal = _entries(store)[-1]
    assert (refusal.outcome, refusal.role) == ("denied", "analyst")
    assert "missing grant (analyst, analytics" in refusal.detail

    nothing = gql.run("SupportLookup", {"email": "nobody@example.de"}, key=support, purpose="support")
    assert nothing["data"]["profileByIdentifier"] is None
    assert len(_entries(store)) == 3  # nothing personal returned: no entry

    for entry in _entries(store):
        blob = " ".join(str(v) for v in entry.as_record().values())
        assert "audit.me" not in blob and "Greta" not in blob


def test_audit_log_query_filters_by_subject_and_is_for_compliance(store: Store, gql: GraphQLClient) -> None:
    [a] = ingest_all(store, event({"email": "a@example.com"}))
    ingest_all(store, event({"email": "b@example.com"}))
    admin, compliance, marketing = gql.key("admin"), gql.key("compliance_officer"), gql.key("marketing_tool")
    gql.run("CustomerIdentities", {"id": a.profile_id}, key=admin, purpose="support")
    log = gql.run("AuditLog", {"subjectId": a.profile_id}, key=compliance, purpose="legal_compliance")
    entries = log["data"]["auditLog"]["nodes"]
    assert [e["operation"] for e in entries] == ["ingest", "graphql:CustomerIdentities"]
    assert all(a.profile_id in e["subjectIds"] for e in entries)
    page = gql.run("AuditLog", {"first": 1}, key=compliance, purpose="legal_compliance")["data"]["auditLog"]
    assert page["pageInfo"]["hasNextPage"]
    verify = gql.run("AuditVerify", key=compliance, purpose="legal_compliance")["data"]["auditVerify"]
    assert verify["ok"] and verify["entriesChecked"] >= 3
    refused = gql.run("AuditLog", {}, key=marketing, purpose="marketing")
    assert refused.get("data") is None and "system.audit_log" in refused["errors"][0]["message"]


def _chain(store: Store, n: int = 6) -> None:
    ingest_all(store, *[event({"email": f"p{i}@example.com"}) for i in range(n)])
    for i in range(n):  # one entry per batch: make several
        ingest_all(store, event({"email": f"q{i}@example.com"}))


@pytest.mark.parametrize("tamper", ["change", "delete", "reorder"])
def test_tampering_is_named_by_cdp_audit_verify(store: Store, cli_env: Settings, tamper: str) -> None:
    _chain(store)
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "ok: 7 entries verified" in ok.output
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # the database refuses; an owner could still disable the guard
            with pytest.raises(Exception, match="append-only"), conn.begin_nested():
                conn.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3"))
            conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        if tamper == "change":
            conn.execute(text("UPDATE audit_entry SET purpose = 'marketing' WHERE seq = 3"))
        elif tamper == "delete":
            conn.execute(text("DELETE FROM audit_entry WHERE seq = 3"))
        else:
            conn.execute(text("UPDATE audit_entry SET seq = 100 WHERE seq = 3"))
            conn.execute(text("UPDATE audit_entry SET seq = 3 WHERE seq = 4"))
            conn.execute(text("UPDATE audit_entry SET seq = 4 WHERE seq = 100"))
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "BROKEN at entry 3" in broken.output


def test_audit_export_writes_every_entry(store: Store, cli_env: Settings, tmp_path) -> None:
    _chain(store, 2)
    out = tmp_path / "audit.jsonl"
    result = runner.invoke(app, ["audit", "export", "--output", str(out)])
    assert result.exit_code == 0 and "exported 3 entries" in result.output
    with out.open() as fh:
        assert audit.verify_jsonl(fh).ok
    with store.session() as s:
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 3


def test_a_read_whose_audit_entry_fails_returns_no_data(
    store: Store, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_all(store, event({"email": "quiet@example.de"}, traits={"first_name": "Ida"}))
    admin = gql.key("admin")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("cdp.access.audit.audit.append", broken)
    response = gql.run("SupportLookup", {"email": "quiet@example.de"}, key=admin, purpose="support")
    assert response.get("data") is None
    assert response["errors"][0]["message"] == "the audit log could not be written, so no data is returned"
    assert "Ida" not in str(response)


@contextmanager
def _committed_transactions(store: Store) -> Iterator[list[list[str]]]:
    """The statements of every transaction committed on the data database meanwhile, one list each."""
    committed: list[list[str]] = []

    def begin(conn: Connection) -> None:
        conn.info["statements"] = []

    def executed(conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
        conn.info.setdefault("statements", []).append(statement)

    def commit(conn: Connection) -> None:
        committed.append(conn.info.pop("statements", []))

    hooks = (("begin", begin), ("before_cursor_execute", executed), ("commit", commit))
    for name, hook in hooks:
        sa_event.listen(store.engine, name, hook)
    try:
        yield committed
    finally:
        for name, hook in hooks:
            sa_event.remove(store.engine, name, hook)


def test_a_read_commits_its_audit_entry_in_the_transaction_that_read(store: Store, gql: GraphQLClient) -> None:
    """No second transaction per lookup: the rows are read and the entry appended, then one commit."""
    ingest_all(store, event({"email": "once@example.de"}, traits={"first_name": "Ida"}))
    admin = gql.key("admin")
    gql.run("SupportLookup", {"email": "once@example.de"}, key=admin, purpose="support")  # the key's first use
    with _committed_transactions(store) as committed:
        response = gql.run("SupportLookup", {"email": "once@example.de"}, key=admin, purpose="support")
    assert response["data"]["profileByIdentifier"]["firstName"] == "Ida"
    with_entry = [t for t in committed if any(s.startswith("INSERT INTO audit_entry") for s in t)]
    assert len(with_entry) == 1
    assert any("FROM trait" in s for s in with_entry[0])  # the read itself, in the same transaction


def test_a_read_whose_audit_entry_does_not_commit_returns_no_data(store: Store, gql: GraphQLClient) -> None:
    """The entry is committed before the response exists: a commit that fails (a full disk, a lost connection)
    withholds the data, and leaves no entry behind."""
    ingest_all(store, event({"email": "late@example.de"}, traits={"first_name": "Ida"}))
    admin = gql.key("admin")
    gql.run("SupportLookup", {"email": "nobody@example.de"}, key=admin, purpose="support")  # the key's first use
    before = len(_entries(store))

    def executed(conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT INTO audit_entry"):
            conn.info["audit_insert"] = True

    def commit(conn: Connection) -> None:
        if conn.info.pop("audit_insert", False):
            raise RuntimeError("disk full at commit")

    sa_event.listen(store.engine, "before_cursor_execute", executed)
    sa_event.listen(store.engine, "commit", commit)
    try:
        response = gql.run("SupportLookup", {"email": "late@example.de"}, key=admin, purpose="support")
    finally:
        sa_event.remove(store.engine, "before_cursor_execute", executed)
        sa_event.remove(store.engine, "commit", commit)
    assert response.get("data") is None
    assert response["errors"][0]["message"] == "the audit log could not be written, so no data is returned"
    assert "Ida" not in str(response)
    assert len(_entries(store)) == before


def test_more_reads_at_once_than_database_connections_are_all_answered_and_audited(
    store: Store, gql: GraphQLClient
) -> None:
    """A request holds one connection from its key check to its committed audit entry, never one while waiting
    for a second: 40 reads at once (the server's worker threads; the pool holds 15 connections on SQLite, 20 on
    PostgreSQL) queue for connections instead of starving each other, and the chain stays one chain."""
    ingest_all(store, event({"email": "crowd@example.de"}, traits={"first_name": "Ida"}))
    admin = gql.key("admin")
    before = len(_entries(store))
    readers = 40
    start = threading.Barrier(readers)
    body = {"query": operations()["SupportLookup"], "variables": {"email": "crowd@example.de"}}
    headers = {"Authorization": f"Bearer {admin}", "X-CDP-Purpose": "support"}
    with live_server(store) as url, httpx.Client(timeout=60) as http:

        def read(_: int) -> str:
            start.wait()
            response = http.post(url, json=body, headers=headers)
            return response.json()["data"]["profileByIdentifier"]["firstName"]

        with ThreadPoolExecutor(readers) as pool:
            assert list(pool.map(read, range(readers))) == ["Ida"] * readers
    entries = _entries(store)
    assert [e.operation for e in entries[before:]] == ["graphql:SupportLookup"] * readers
    with store.session() as session:
        assert audit.verify(session).ok
