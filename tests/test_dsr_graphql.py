"""Data-subject requests through the real ASGI app: an officer lists, verifies and executes them."""

from __future__ import annotations

import base64
import io
import json
import zipfile

from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.auth.service import create_api_key
from cdp.dsr.settings import DsrSettings
from cdp.store import Store
from tests import dsr_helpers as doors
from tests.dsr_helpers import OFFICER, Inbox, verified_request
from tests.factories import event, ingest_all, order
from tests.graphql_client import GraphQLClient

EXECUTE = """mutation($id: ID!) { confirmDsrIdentity(requestId: $id, method: "id_document") { status }
  executeDsrRequest(requestId: $id) { request { status closedAt } archiveBase64 } }"""
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
        assert executed["request"]["status"] == "completed"
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(executed["archiveBase64"])))
        data = json.loads(archive.read("data.json"))
        assert [t["value"] for t in data["traits"]] == ["Jonas"]

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
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(executed["data"]["executeDsrRequest"]["archiveBase64"])))
    exported = archive.read("data.json").decode()
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
