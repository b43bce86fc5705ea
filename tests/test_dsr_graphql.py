"""Data-subject requests through the real ASGI app: an officer lists, verifies and executes them."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.auth.service import create_api_key
from cdp.dsr import download
from cdp.dsr.settings import DsrSettings
from cdp.ids import utcnow
from cdp.store import Store
from tests import dsr_helpers as doors
from tests.dsr_helpers import OFFICER, Inbox, verified_request
from tests.factories import event, ingest_all, order
from tests.graphql_client import GraphQLClient

EXECUTE = """mutation($id: ID!) { confirmDsrIdentity(requestId: $id, method: "id_document") { status }
  executeDsrRequest(requestId: $id) { request { status closedAt } download { url expiresAt } } }"""
LIST = "{ dsrRequests(first: 10) { id kind status dueOn } }"


def _key(store: Store, role: str) -> str:
    with store.session() as s:
        _, secret = create_api_key(s, name=role, role=role)
        s.commit()
    return secret


def _post(client: TestClient, key: str, purpose: str, query: str, variables: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {key}", "X-CDP-Purpose": purpose}
    return client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers).json()


def test_officer_runs_an_access_request_over_graphql(store: Store) -> None:
    [subject] = ingest_all(store, event({"email": "gql@example.de"}, traits={"first_name": "Jonas"}))
    request = doors.create_request(store, OFFICER, kind="access", profile_id=subject.profile_id, source="graphql")
    officer = _key(store, "compliance_officer")
    with TestClient(create_app(store)) as client:
        listed = _post(client, officer, "data_subject_rights", LIST)
        assert listed["data"]["dsrRequests"] == [
            {"id": request.id, "kind": "access", "status": "received", "dueOn": request.due_on.isoformat()}
        ]
        result = _post(client, officer, "data_subject_rights", EXECUTE, {"id": request.id})
        assert "errors" not in result, result
        executed = result["data"]["executeDsrRequest"]
        assert executed["request"]["status"] == "verified"  # the download runs it
        headers = {"Authorization": f"Bearer {officer}", "X-CDP-Purpose": "data_subject_rights"}
        downloaded = client.get(executed["download"]["url"], headers=headers)
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.headers["content-type"] == "application/zip"
        assert downloaded.headers["cache-control"] == "no-store"
        data = json.loads(zipfile.ZipFile(io.BytesIO(downloaded.content)).read("data.json"))
        assert [t["value"] for t in data["traits"]] == ["Jonas"]
        assert doors.load(store, OFFICER, request.id).status == "completed"

        denied = _post(client, _key(store, "support_agent"), "support", LIST)
        assert denied.get("data") is None and "data_subject_rights" in denied["errors"][0]["message"]


def test_privacy_centre_flow_with_the_operation_documents(
    store: Store, gql: GraphQLClient, smtp: tuple[Inbox, DsrSettings]
) -> None:
    """A subject starts an access request with an email, proves it with the emailed code, and uses the token
    it gets to read only their own data; an officer sees the request in the queue and runs it."""
    inbox, _ = smtp
    [me] = ingest_all(store, event({"email": "hana@example.jp"}, country="JP", traits={"first_name": "花"}))
    ingest_all(store, event({"email": "other@example.jp"}, country="JP", traits={"first_name": "他"}))
    centre, officer = gql.key("frontend_app"), gql.key("compliance_officer")

    response = gql.run(
        "StartRequest",
        {"kind": "access", "identifierKind": "email", "value": "HANA@example.jp"},
        key=centre,
        purpose="data_subject_rights",
    )
    assert response.get("data"), response
    started = response["data"]["startDsrRequest"]
    verified = gql.run(
        "VerifyRequest", {"requestId": started["id"], "code": inbox.code()}, key=centre, purpose="data_subject_rights"
    )["data"]["verifyDsrRequest"]
    assert verified["request"]["status"] == "verified"
    token = verified["token"]

    mine = gql.run("MyProfile", key=token, purpose="data_subject_rights")["data"]["profiles"]["nodes"]
    assert [(p["id"], p["firstName"]) for p in mine] == [(me.profile_id, "花")]
    assert (
        gql.run("MyRequest", {"id": started["id"]}, key=token, purpose="data_subject_rights")["data"]["dsrRequest"][
            "status"
        ]
        == "verified"
    )

    queue = gql.run("DsrQueue", {"status": "verified"}, key=officer, purpose="data_subject_rights")
    assert [r["id"] for r in queue["data"]["dsrRequests"]] == [started["id"]]
    executed = gql.run("ExecuteDsr", {"requestId": started["id"]}, key=officer, purpose="data_subject_rights")
    url = executed["data"]["executeDsrRequest"]["download"]["url"]
    headers = {"Authorization": f"Bearer {officer}", "X-CDP-Purpose": "data_subject_rights"}
    downloaded = gql.http.get(url, headers=headers)
    assert downloaded.status_code == 200, downloaded.text
    exported = zipfile.ZipFile(io.BytesIO(downloaded.content)).read("data.json").decode()
    assert "hana@example.jp" in exported and "other@example.jp" not in exported


def test_legal_hold_reads_and_lifting_a_restriction_over_graphql(store: Store, gql: GraphQLClient) -> None:
    """An erased customer's held order is readable for legal_compliance only; a restriction is lifted by staff."""
    [held] = ingest_all(store, order({"email": "held@example.de"}, source_event_id="held-order"))
    [paused] = ingest_all(store, event({"email": "paused@example.de"}, traits={"first_name": "Pia"}))
    doors.execute(store, OFFICER, verified_request(store, "erasure", held.profile_id).id)
    restriction = doors.execute(store, OFFICER, verified_request(store, "restriction", paused.profile_id).id).request
    officer, admin = gql.key("compliance_officer"), gql.key("admin")
    events = "query($id: ID!) { profile(id: $id) { status events(first: 5) { nodes { type amount { amount } } } } }"
    held_id = {"id": held.profile_id}
    legal = gql.query(events, held_id, key=officer, purpose="legal_compliance")["data"]["profile"]
    assert legal["status"] == "erased"
    assert legal["events"]["nodes"] == [{"type": "order", "amount": {"amount": "19.99"}}]
    other = gql.query(events, held_id, key=officer, purpose="data_subject_rights")
    assert other["data"]["profile"]["events"] is None
    assert other["extensions"]["redactions"][0]["reason"] == "erased"

    name, paused_id = "query($id: ID!) { profile(id: $id) { firstName } }", {"id": paused.profile_id}
    assert gql.query(name, paused_id, key=admin, purpose="support")["data"]["profile"]["firstName"] is None
    lift = "mutation($id: ID!) { liftRestriction(requestId: $id) { summary } }"
    denied = gql.query(lift, {"id": restriction.id}, key=gql.key("support_agent"), purpose="data_subject_rights")
    assert denied["data"] is None and "system.privacy_request" in denied["errors"][0]["message"]
    lifted = gql.query(lift, {"id": restriction.id}, key=officer, purpose="data_subject_rights")
    assert lifted["data"]["liftRestriction"]["summary"]["status"] == "active"
    assert gql.query(name, paused_id, key=admin, purpose="support")["data"]["profile"]["firstName"] == "Pia"


TICKET = """mutation($id: ID!) { executeDsrRequest(requestId: $id) { request { status } download { url } } }"""


def test_archive_download_refuses_other_keys_purposes_subjects_and_spent_or_expired_tickets(
    store: Store, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ticket executeDsrRequest returns is good for its key and purpose, before it expires, once. Every
    refusal is an error without archive, and leaves the request waiting to be run."""
    [ana] = ingest_all(store, event({"email": "ana@example.de"}, traits={"first_name": "Ana"}))
    [ben] = ingest_all(store, event({"email": "ben@example.de"}, traits={"first_name": "Ben"}))
    request = verified_request(store, "access", ana.profile_id)
    officer, agent = gql.key("compliance_officer"), gql.key("support_agent")
    ana_token, ben_token = gql.key("data_subject", ana.profile_id), gql.key("data_subject", ben.profile_id)

    def issue(key: str, purpose: str = "data_subject_rights") -> dict:
        return gql.query(TICKET, {"id": request.id}, key=key, purpose=purpose)

    def get(url: str, key: str, purpose: str = "data_subject_rights") -> tuple[int, str]:
        response = gql.http.get(url, headers={"Authorization": f"Bearer {key}", "X-CDP-Purpose": purpose})
        return response.status_code, response.text

    # no ticket for a role without the queue's grant, another purpose, or another subject's token
    for key, purpose in ((agent, "data_subject_rights"), (officer, "marketing"), (ben_token, "data_subject_rights")):
        refused = issue(key, purpose)
        assert refused.get("data") is None or refused["data"]["executeDsrRequest"] is None, refused
        assert refused["errors"], refused
    url = issue(officer)["data"]["executeDsrRequest"]["download"]["url"]
    assert url.startswith("/dsr/archive/")

    expected = {
        "a support agent's key": (agent, "data_subject_rights", 403, "another API key"),
        "another purpose": (officer, "legal_compliance", 403, "another purpose"),
        "an undeclared purpose": (officer, "marketing", 403, "another purpose"),
        "another subject's token": (ben_token, "data_subject_rights", 403, "another API key"),
        "the subject's own token": (ana_token, "data_subject_rights", 403, "another API key"),
    }
    for label, (key, purpose, status, says) in expected.items():
        answer = get(url, key, purpose)
        assert answer[0] == status and says in answer[1], label
    ticket = url.removeprefix("/dsr/archive/")
    payload, mac = ticket.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "request": "x"}).encode()).decode().rstrip("=")
    assert get(f"/dsr/archive/{forged}.{mac}", officer)[0] == 403
    assert get(f"/dsr/archive/{ticket[:-2]}", officer)[0] == 403
    assert get(url, "not-a-key")[0] == 401

    later = utcnow() + download.TICKET_LIFETIME + timedelta(seconds=1)
    with monkeypatch.context() as clock:
        clock.setattr(download, "utcnow", lambda: later)
        status, text = get(url, officer)
        assert status == 410 and "expired" in text
    assert doors.load(store, OFFICER, request.id).status == "verified"  # nothing refused ran it

    status, _ = get(url, officer)
    assert status == 200
    assert doors.load(store, OFFICER, request.id).status == "completed"
    again = get(url, officer)
    assert again[0] == 410 and "used" in again[1]
