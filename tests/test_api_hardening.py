"""GraphQL hardening through the real ASGI app: transport refusals, limits before execution, production mode,
and error masking that hides only the unexpected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.api.cost import MAX_COST
from cdp.auth.service import create_api_key
from cdp.profiles import service as profiles_service
from cdp.store import Store
from tests.factories import event, ingest_all

PURPOSE = "order_fulfillment"


def _bearer(store: Store, role: str = "admin") -> dict[str, str]:
    with store.session() as session:
        _, secret = create_api_key(session, name=f"test {role}", role=role)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


@pytest.fixture
def headers(store: Store) -> dict[str, str]:
    return {**_bearer(store), "X-CDP-Purpose": PURPOSE}


def _post(client: TestClient, headers: dict[str, str], query: str, variables: dict[str, Any] | None = None) -> Any:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors") or []]


# --- limits, all applied before any resolver runs -----------------------------------------------------------


@pytest.fixture
def resolvers_must_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal that reached the resolvers would surface this error instead of its own."""

    def fail(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("resolver ran for a query that should have been refused before execution")

    monkeypatch.setattr(profiles_service, "customers", fail)


@pytest.mark.usefixtures("resolvers_must_not_run")
def test_over_deep_query_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    # The schema has no cycles (its deepest real path is 6 levels), so the limit is a backstop: the depth
    # error arrives next to the unknown-field errors, and nothing executes.
    nested = "profiles { nodes { " + "a { " * 10 + "b" + " }" * 10 + " } }"
    body = _post(client, headers, "query Deep { " + nested + " }")
    assert body.get("data") is None
    assert "'Deep' exceeds maximum operation depth of 10" in _messages(body)


@pytest.mark.usefixtures("resolvers_must_not_run")
def test_alias_bomb_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    aliases = " ".join(f"a{i}: id" for i in range(50))
    body = _post(client, headers, "{ profiles(first: 1) { nodes { " + aliases + " } } }")
    assert body.get("data") is None
    assert _messages(body) == ["50 aliases found. Allowed: 15"]


@pytest.mark.usefixtures("resolvers_must_not_run")
@pytest.mark.parametrize("first", [1000, 0])
def test_page_size_literal_out_of_range_is_refused_by_validation(
    client: TestClient, headers: dict[str, str], first: int
) -> None:
    body = _post(client, headers, f"{{ profiles(first: {first}) {{ nodes {{ id }} }} }}")
    assert body.get("data") is None
    assert _messages(body) == [
        f"`first` on Query.profiles must be between 1 and 100, got {first} (page on with `after`)"
    ]


@pytest.mark.usefixtures("resolvers_must_not_run")
def test_page_size_from_variable_is_refused_before_execution(client: TestClient, headers: dict[str, str]) -> None:
    query = "query Page($n: Int!) { profiles { nodes { events(first: $n) { nodes { id } } } } }"
    body = _post(client, headers, query, {"n": 1000})
    assert _messages(body) == ["`first` on Profile.events must be between 1 and 100, got 1000 (page on with `after`)"]


@pytest.mark.usefixtures("resolvers_must_not_run")
def test_too_costly_query_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    # profiles: 1 + 100 x (nodes: 1 + id 1 + events: 1 + 100 x (nodes 1 + id 1)) = 20,301
    query = "{ profiles(first: 100) { nodes { id events(first: 100) { nodes { id } } } } }"
    body = _post(client, headers, query)
    assert body.get("data") is None
    assert _messages(body) == [
        f"query cost 20301 exceeds the limit of {MAX_COST} (lower `first` or select fewer fields)"
    ]


@pytest.mark.usefixtures("resolvers_must_not_run")
def test_cost_counts_variables_and_fragments(client: TestClient, headers: dict[str, str]) -> None:
    query = """
        query Page($outer: Int!, $inner: Int!) { profiles(first: $outer) { ...Customers } }
        fragment Customers on ProfileConnection {
            nodes { ... on Profile { id events(first: $inner) { nodes { id } } } }
        }
    """
    body = _post(client, headers, query, {"outer": 100, "inner": 50})
    assert _messages(body) == [
        f"query cost 10301 exceeds the limit of {MAX_COST} (lower `first` or select fewer fields)"
    ]


def test_reasonable_query_within_cost_runs(store: Store, client: TestClient, headers: dict[str, str]) -> None:
    ingest_all(store, event({"email": "ana@example.com"}, traits={"first_name": "Ana"}))
    query = (
        "query Page($inner: Int!) { profiles(first: 50) { nodes { email events(first: $inner) { nodes { type } } } } }"
    )
    body = _post(client, headers, query, {"inner": 10})
    assert "errors" not in body
    [customer] = body["data"]["profiles"]["nodes"]
    assert customer["email"] == "ana@example.com"
    assert [e["type"] for e in customer["events"]["nodes"]] == ["identify"]


# --- transport ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["{ profiles { nodes { id } } }", 'mutation { unmergeProfile(profileId: "x") { id } }']
)
def test_get_is_refused(client: TestClient, headers: dict[str, str], query: str) -> None:
    response = client.get("/graphql", params={"query": query}, headers=headers)
    assert response.status_code == 405
    assert response.json() == {"errors": [{"message": "GraphQL operations must be sent as POST with a JSON body"}]}


def test_non_json_content_type_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        "/graphql", content="query={ profiles { nodes { id } } }", headers={**headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["message"] == "Content-Type must be application/json"


def test_oversized_body_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    padding = " " * 1_000_001
    json_headers = {**headers, "Content-Type": "application/json"}
    declared = client.post("/graphql", content='{"query": "{ __typename }"}' + padding, headers=json_headers)
    # Without Content-Length (chunked upload) the limit is enforced while reading the stream.
    streamed = client.post(
        "/graphql", content=iter([b'{"query": "{ __typename }"}', padding.encode()]), headers=json_headers
    )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["errors"][0]["message"] == "request body larger than 1000000 bytes"


# --- credentials and purpose ----------------------------------------------------------------------------------


def test_missing_purpose_header_names_the_header(store: Store, client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "{ __typename }"}, headers=_bearer(store))
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert message.startswith("missing X-CDP-Purpose header")
    assert PURPOSE in message


def test_unknown_purpose_lists_the_valid_ones(store: Store, client: TestClient) -> None:
    headers = {**_bearer(store), "X-CDP-Purpose": "curiosity"}
    response = client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert message.startswith("X-CDP-Purpose:")
    assert "curiosity" in message
    assert all(purpose in message for purpose in ("order_fulfillment", "marketing.email", "data_subject_rights"))


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing Authorization header: send 'Authorization: Bearer <api key>'"),
        ("Bearer cdp_not-a-key", "unknown API key"),
        ("Basic dXNlcjpwYXNz", "malformed Authorization header: expected 'Bearer <api key>'"),
    ],
)
def test_bad_api_key_is_refused(client: TestClient, authorization: str | None, message: str) -> None:
    headers = {"X-CDP-Purpose": PURPOSE} | ({"Authorization": authorization} if authorization else {})
    response = client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": message}]}


# --- production mode ------------------------------------------------------------------------------------------

INTROSPECTION = "{ __schema { queryType { name } } }"


def test_introspection_works_in_development(client: TestClient, headers: dict[str, str]) -> None:
    assert _post(client, headers, INTROSPECTION) == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


def test_ide_is_served_in_development(client: TestClient) -> None:
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def test_introspection_and_ide_are_off_in_production(production_store: Store) -> None:
    headers = {**_bearer(production_store), "X-CDP-Purpose": PURPOSE}
    with TestClient(create_app(production_store)) as client:
        body = _post(client, headers, INTROSPECTION)
        page = client.get("/graphql", headers={"Accept": "text/html"})
    assert body.get("data") is None
    assert "GraphQL introspection has been disabled, but the requested query contained the field '__schema'." in (
        _messages(body)
    )
    assert page.status_code == 405
    assert "graphiql" not in page.text.lower()


# --- error masking --------------------------------------------------------------------------------------------


def test_unexpected_errors_are_masked(client: TestClient, headers: dict[str, str], monkeypatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(profiles_service, "customers", broken)
    response = client.post("/graphql", json={"query": "{ profiles { nodes { id } } }"}, headers=headers)
    assert response.status_code == 200
    assert _messages(response.json()) == ["Unexpected error."]
    assert "secret detail" not in response.text


def test_validation_and_permission_messages_stay_readable(
    store: Store, client: TestClient, headers: dict[str, str]
) -> None:
    invalid = _post(client, headers, "{ profiles { nodes { shoeSize } } }")
    assert _messages(invalid) == ["Cannot query field 'shoeSize' on type 'Profile'."]

    # personalization may not read e-mail addresses: the gate refuses with its own words.
    marketer = {**_bearer(store, role="frontend_app"), "X-CDP-Purpose": "personalization"}
    denied = _post(client, marketer, "{ profiles { nodes { email } } }")
    [message] = _messages(denied)
    assert message != "Unexpected error."
    assert "personalization" in message
