"""GraphQL over HTTP as the specification says, checked with raw HTTP and with the Python `gql` client against a
real server: media types, request errors (readable, JSON, the right status), masked unexpected errors with an
id, persisted documents by hash, trusted-documents-only mode, and the access log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport
from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.api.settings import ApiSettings
from cdp.auth.service import create_api_key
from cdp.profiles import service as profiles_service
from cdp.store import Store
from policies.gate import PolicyGate
from tests.graphql_client import documents, live_server, operations

JSON, GRAPHQL_RESPONSE = "application/json", "application/graphql-response+json"
MISSING_VARIABLE = "query C($id: ID!) { profile(id: $id) { id } }"
TWO_OPERATIONS = "query A { __typename } query B { __typename }"


def _key(store: Store, role: str) -> str:
    with store.session() as session:
        _, secret = create_api_key(session, name=f"http {role}", role=role)
        session.commit()
    return secret


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


@pytest.fixture
def admin(store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {_key(store, 'admin')}", "X-CDP-Purpose": "support"}


def _post(client: TestClient, headers: dict[str, str], body: dict[str, Any], accept: str | None = None) -> Any:
    sent = {**headers, **({"Accept": accept} if accept is not None else {})}
    return client.post("/graphql", json=body, headers=sent)


# Request errors: (body, message). Under application/json they answer 200, under
# application/graphql-response+json 400; neither has a `data` entry.
REQUEST_ERRORS = [
    ({"query": "{ __typename "}, "Syntax Error: Expected Name, found <EOF>."),
    ({"query": "{ shoeSize }"}, "Cannot query field 'shoeSize' on type 'Query'."),
    (
        {"query": MISSING_VARIABLE, "variables": {}},
        "Variable '$id' has invalid value: Expected a value of non-null type 'ID!' to be provided.",
    ),
    ({"query": TWO_OPERATIONS}, "the document has 2 operations (A, B): name one in operationName"),
    (
        {"query": TWO_OPERATIONS, "operationName": "C"},
        "operationName names no operation of the document (it has: A, B)",
    ),
    (
        {"query": "subscription S { __typename }"},
        "subscriptions are not served over HTTP POST; send a query or a mutation",
    ),
]


@pytest.mark.parametrize(("accept", "status"), [(None, 200), ("*/*", 200), (JSON, 200), (GRAPHQL_RESPONSE, 400)])
@pytest.mark.parametrize(("body", "message"), REQUEST_ERRORS)
def test_request_errors_are_readable_json_with_the_status_of_the_media_type(
    client: TestClient, admin: dict[str, str], accept: str | None, status: int, body: dict[str, Any], message: str
) -> None:
    response = _post(client, admin, body, accept)
    assert response.status_code == status
    assert response.headers["content-type"] == (GRAPHQL_RESPONSE if accept == GRAPHQL_RESPONSE else JSON)
    payload = response.json()
    assert "data" not in payload
    assert [e["message"] for e in payload["errors"]] == [message]


def test_the_named_operation_of_several_runs(client: TestClient, admin: dict[str, str]) -> None:
    response = _post(client, admin, {"query": TWO_OPERATIONS, "operationName": "B"}, GRAPHQL_RESPONSE)
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


def test_the_preferred_media_type_wins_and_unacceptable_ones_get_406(client: TestClient, admin: dict[str, str]) -> None:
    body = {"query": "{ __typename }"}
    both = _post(client, admin, body, f"{GRAPHQL_RESPONSE}, {JSON};q=0.9")
    assert both.headers["content-type"] == GRAPHQL_RESPONSE
    json_first = _post(client, admin, body, f"{GRAPHQL_RESPONSE};q=0.5, {JSON}")
    assert json_first.headers["content-type"] == JSON
    refused = _post(client, admin, body, "text/html")
    assert refused.status_code == 406
    assert refused.json()["errors"][0]["message"] == f"Accept must include {GRAPHQL_RESPONSE} or {JSON}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": 1}, "`query` must be a string or null"),
        ({"query": "{ __typename }", "variables": [1]}, "`variables` must be an object or null"),
        ({"query": "{ __typename }", "operationName": {}}, "`operationName` must be a string or null"),
        ({}, "no `query`: send a GraphQL document, or a trusted document's `documentId`"),
        ([{"query": "{ __typename }"}], "batched requests are not supported: send one operation per request"),
    ],
)
def test_malformed_parameters_are_400_in_both_media_types(
    client: TestClient, admin: dict[str, str], body: Any, message: str
) -> None:
    for accept in (JSON, GRAPHQL_RESPONSE):
        response = client.post("/graphql", content=json.dumps(body), headers={**admin, "Accept": accept,
                                                                              "Content-Type": JSON})  # fmt: skip
        assert response.status_code == 400
        assert response.json() == {"errors": [{"message": message}]}


def test_unexpected_errors_are_masked_with_an_id_the_log_also_has(
    client: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(profiles_service, "customers", broken)
    caplog.set_level(logging.ERROR, logger="cdp.api.errors")
    response = _post(client, admin, {"query": "{ profiles { nodes { id } } }"}, GRAPHQL_RESPONSE)
    assert response.status_code == 200  # a field error: data is there (null), so the request itself was fine
    [error] = response.json()["errors"]
    assert error["message"] == "Unexpected error." and "secret detail" not in response.text
    assert error["path"] == ["profiles"]
    [record] = [r for r in caplog.records if r.name == "cdp.api.errors"]
    assert error["extensions"]["errorId"] in record.getMessage()
    assert record.exc_info is not None and "secret detail" in str(record.exc_info[1])


# --- persisted (trusted) documents ----------------------------------------------------------------------------


def test_a_trusted_document_runs_by_hash_and_by_document_id(client: TestClient, admin: dict[str, str]) -> None:
    document = documents()["AuditVerify"]
    by_hash = _post(client, admin, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": document.id}}})
    by_id = _post(client, admin, {"documentId": f"sha256:{document.id}"})
    for response in (by_hash, by_id):
        assert response.status_code == 200
        assert response.json()["data"]["auditVerify"]["ok"] is True


def test_an_unknown_hash_answers_persisted_query_not_found(client: TestClient, admin: dict[str, str]) -> None:
    """The answer Apollo's persisted-query link understands (it retries with the text)."""
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
    response = _post(client, admin, body, GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
    }
    mismatch = _post(client, admin, {"query": "{ __typename }", **body})
    assert mismatch.status_code == 400
    assert mismatch.json()["errors"][0]["message"] == "the query's sha256 is not the sha256Hash/documentId sent with it"


@pytest.fixture
def trusted_only(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store, ApiSettings(trusted_documents_only=True))) as test_client:
        yield test_client


def test_trusted_only_mode_lets_app_roles_run_only_trusted_documents(store: Store, trusted_only: TestClient) -> None:
    storefront = {"Authorization": f"Bearer {_key(store, 'frontend_app')}", "X-CDP-Purpose": "order_fulfillment"}
    document = documents()["CustomerByEmail"]
    variables = {"email": "nobody@example.com"}
    adhoc = _post(trusted_only, storefront, {"query": "{ profiles { nodes { email } } }"}, GRAPHQL_RESPONSE)
    assert adhoc.status_code == 403
    [error] = adhoc.json()["errors"]
    assert error["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED" and "frontend_app" in error["message"]
    # The same document sent as its file's text, as printed, or by hash: all trusted.
    for body in (
        {"query": operations()["CustomerByEmail"], "variables": variables},
        {"query": document.body, "variables": variables},
        {"documentId": document.id, "variables": variables},
    ):
        response = _post(trusted_only, storefront, body)
        assert response.json() == {"data": {"profileByIdentifier": None}}, body


def test_trusted_only_mode_still_lets_staff_send_ad_hoc_queries(store: Store, trusted_only: TestClient) -> None:
    for role, purpose in (
        ("support_agent", "support"),
        ("compliance_officer", "legal_compliance"),
        ("admin", "support"),
    ):
        headers = {"Authorization": f"Bearer {_key(store, role)}", "X-CDP-Purpose": purpose}
        response = _post(trusted_only, headers, {"query": "{ __typename }"})
        assert response.json() == {"data": {"__typename": "Query"}}, role
    marketer = {"Authorization": f"Bearer {_key(store, 'marketing_tool')}", "X-CDP-Purpose": "marketing.email"}
    assert _post(trusted_only, marketer, {"query": "{ __typename }"}).status_code == 403


# --- the access log -------------------------------------------------------------------------------------------


def test_one_access_log_line_per_request_without_values(
    client: TestClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cdp.access")
    query = "query Lookup($e: String!) { profileByIdentifier(kind: email, value: $e) { id } }"
    response = client.post(
        "/graphql",
        json={"query": query, "variables": {"e": "secret.person@example.com"}},
        headers={**admin, "X-Request-Id": "req-42"},
    )
    assert response.headers["x-request-id"] == "req-42"
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cdp.access"]
    duration = line.pop("duration_ms")
    assert isinstance(duration, float) and duration >= 0
    assert line == {
        "request_id": "req-42",
        "method": "POST",
        "path": "/graphql",
        "status": 200,
        "role": "admin",
        "purpose": "support",
        "operation": "Lookup",
    }
    assert "secret.person" not in caplog.text


def test_a_refused_request_is_logged_and_gets_a_fresh_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cdp.access")
    response = client.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Request-Id": "bad id with spaces"})
    assert response.status_code == 401
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cdp.access"]
    assert line["status"] == 401 and line["request_id"] == response.headers["x-request-id"] != "bad id with spaces"
    assert "role" not in line


# --- the same behaviour through a third-party client: Python gql over a real HTTP server -----------------------


def _gql(url: str, key: str, purpose: str = "support") -> Client:
    headers = {"Authorization": f"Bearer {key}", "X-CDP-Purpose": purpose}
    return Client(transport=RequestsHTTPTransport(url=url, headers=headers, retries=0))


def test_gql_client_reads_the_request_errors(store: Store) -> None:
    key = _key(store, "admin")
    with live_server(store) as url, _gql(url, key) as session:
        with pytest.raises(TransportQueryError) as missing:
            session.execute(GraphQLRequest(MISSING_VARIABLE, variable_values={}))
        assert missing.value.errors[0]["message"] == (
            "Variable '$id' has invalid value: Expected a value of non-null type 'ID!' to be provided."
        )
        with pytest.raises(TransportQueryError) as unknown:
            session.execute(GraphQLRequest(TWO_OPERATIONS, operation_name="C"))
        assert unknown.value.errors[0]["message"] == "operationName names no operation of the document (it has: A, B)"
        assert session.execute(GraphQLRequest(TWO_OPERATIONS, operation_name="B")) == {"__typename": "Query"}


def test_gql_client_reads_why_a_revoked_key_is_refused(store: Store) -> None:
    """The 401's JSON body reaches the client as a readable error."""
    from cdp.auth.service import find_key, revoke_api_key

    key = _key(store, "admin")
    with store.session() as session:
        revoke_api_key(session, find_key(session, key).id)  # type: ignore[union-attr]
        session.commit()
    with live_server(store) as url, _gql(url, key) as session, pytest.raises(TransportQueryError) as refused:
        session.execute(GraphQLRequest("{ __typename }"))
    assert refused.value.errors[0]["message"].startswith(f"API key {key[:12]}... was revoked on ")


def test_policy_decisions_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """casbin would log every decision (INFO allowed, WARNING denied); decisions go to the audit log instead."""
    caplog.set_level(logging.DEBUG)
    gate = PolicyGate()  # a fresh gate: its grants are decided by casbin now, not cached from earlier tests
    assert "admin" in gate.roles  # loaded
    # casbin only marks its loggers disabled, which any later logging configuration (uvicorn's, alembic's) undoes.
    logging.getLogger("casbin.enforcer").disabled = False
    assert gate.enforce("admin", "support", "user.name", "read")
    assert not gate.enforce("analyst", "analytics", "user.contact.email", "read")
    assert not gate.grants("frontend_app", "personalization").allows("read", "user.contact.email")
    assert not [r for r in caplog.records if r.name == "casbin.enforcer"]
