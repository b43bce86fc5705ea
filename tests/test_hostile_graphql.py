"""Hostile input to /graphql (issue 14): every reproduction is refused with a readable 4xx or GraphQL error, never
a RecursionError, a masked "Unexpected error." or an echo of the sent values in the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.api.guard import MAX_FRAGMENT_CHAIN, MAX_NESTING
from cdp.api.http import MAX_BODY_BYTES, MAX_JSON_DEPTH
from cdp.auth.service import create_api_key
from cdp.store import Store
from tests.factories import event, ingest_all

LEAK = "reject.leak@example.org"


def _headers(store: Store) -> dict[str, str]:
    with store.session() as session:
        _, secret = create_api_key(session, name="hostile", role="admin")
        session.commit()
    return {"Authorization": f"Bearer {secret}", "X-CDP-Purpose": "support", "Content-Type": "application/json"}


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


@pytest.fixture
def headers(store: Store) -> dict[str, str]:
    return _headers(store)


def _messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body["errors"]]


def test_deeply_nested_json_body_is_refused_before_parsing(client: TestClient, headers: dict[str, str]) -> None:
    depth = (MAX_BODY_BYTES - 20) // 2  # just under the size limit: ~500,000 levels of arrays
    body = b'{"query": ' + b"[" * depth + b"]" * depth + b"}"
    assert len(body) <= MAX_BODY_BYTES
    response = client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": f"request body nests JSON deeper than {MAX_JSON_DEPTH} levels"}]}


def test_nesting_inside_strings_does_not_count(client: TestClient, headers: dict[str, str]) -> None:
    brackets = "[" * 100 + '\\"{' * 100
    response = client.post("/graphql", json={"query": "{ __typename }", "variables": {"x": brackets}}, headers=headers)
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


def test_a_long_fragment_chain_gets_a_validation_error(client: TestClient, headers: dict[str, str]) -> None:
    fragments = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(240))
    query = "query Chain { ...F0 }\n" + fragments + "\nfragment F240 on Query { __typename }"
    response = client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200
    assert _messages(response.json()) == [f"fragments spread each other 241 deep; at most {MAX_FRAGMENT_CHAIN} allowed"]


def test_a_short_fragment_chain_runs(client: TestClient, headers: dict[str, str]) -> None:
    fragments = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(MAX_FRAGMENT_CHAIN - 1))
    query = f"query Chain {{ ...F0 }}\n{fragments}\nfragment F{MAX_FRAGMENT_CHAIN - 1} on Query {{ __typename }}"
    response = client.post("/graphql", json={"query": query}, headers=headers)
    assert response.json() == {"data": {"__typename": "Query"}}


def test_deep_bracket_nesting_in_the_document_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    query = "{ profiles(first: " + "[" * 300 + "1" + "]" * 300 + ") { nodes { id } } }"
    response = client.post("/graphql", json={"query": query}, headers=headers)
    assert _messages(response.json()) == [f"the document nests brackets deeper than {MAX_NESTING} levels"]


def test_first_null_is_a_readable_error(client: TestClient, headers: dict[str, str]) -> None:
    literal = client.post("/graphql", json={"query": "{ profiles(first: null) { nodes { id } } }"}, headers=headers)
    assert _messages(literal.json()) == ["Expected value of non-null type 'Int!' not to be None."]
    query = "query Page($n: Int) { profiles(first: $n) { nodes { id } } }"
    variable = client.post("/graphql", json={"query": query, "variables": {"n": None}}, headers=headers)
    assert _messages(variable.json()) == [
        "`first` on Query.profiles must be between 1 and 100, got null (page on with `after`)"
    ]


@pytest.mark.parametrize("content_type", ["application/jsonfoo", "application/json-patch+json", "text/json", ""])
def test_only_application_json_is_accepted(client: TestClient, headers: dict[str, str], content_type: str) -> None:
    response = client.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code == 415
    assert _messages(response.json()) == ["Content-Type must be application/json"]


def test_json_with_utf8_charset_is_accepted(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={**headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.json() == {"data": {"__typename": "Query"}}


def test_suggestions_are_on_in_development(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/graphql", json={"query": "{ profiles { nodes { emial } } }"}, headers=headers)
    assert _messages(response.json()) == ["Cannot query field 'emial' on type 'Profile'. Did you mean 'email'?"]


def test_suggestions_are_off_in_production(production_store: Store) -> None:
    production = production_store
    try:
        with TestClient(create_app(production)) as client:
            response = client.post(
                "/graphql",
                json={"query": '{ profiles { nodes { emial } } profileByIdentifier(kind: emial, value: "x") { id } }'},
                headers=_headers(production),
            )
    finally:
        production.close()
    messages = _messages(response.json())
    assert "Cannot query field 'emial' on type 'Profile'." in messages
    assert not [m for m in messages if "Did you mean" in m], messages


def test_query_literals_and_variables_never_reach_the_log(
    store: Store, client: TestClient, headers: dict[str, str], caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    """An unexpected error is logged with its id and traceback, and the access log has its line; neither
    carries the literal in the query or the variables' values."""
    from cdp.profiles import service as profiles_service

    ingest_all(store, event({"email": LEAK}))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("resolver broke")

    monkeypatch.setattr(profiles_service, "customers", broken)
    caplog.set_level(logging.DEBUG)
    query = (
        f'query Leak($v: String!) {{ a: profileByIdentifier(kind: email, value: "{LEAK}") {{ id }} '
        "profiles { nodes { id } } b: profileByIdentifier(kind: email, value: $v) { id } }"
    )
    response = client.post("/graphql", json={"query": query, "variables": {"v": LEAK.upper()}}, headers=headers)
    [error] = response.json()["errors"]
    assert error["message"] == "Unexpected error." and error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    logged = "\n".join(r.getMessage() + (caplog.text if r.exc_info else "") for r in caplog.records)
    assert error_id in logged and "RuntimeError" in caplog.text
    assert LEAK not in caplog.text.lower() and "reject.leak" not in caplog.text.lower()
    access = [r.getMessage() for r in caplog.records if r.name == "cdp.access"]
    assert len(access) == 1 and '"operation": "Leak"' in access[0]


def test_too_many_tokens_are_refused_before_parsing(client: TestClient, headers: dict[str, str]) -> None:
    query = "{ " + "__typename " * 2_500 + "}"
    response = client.post("/graphql", json={"query": query}, headers=headers)
    assert _messages(response.json()) == ["the document has more than 2000 tokens"]


def test_a_gate_refusal_is_a_request_error(store: Store, client: TestClient) -> None:
    """Refused before execution: no `data` entry, 400 under application/graphql-response+json."""
    with store.session() as session:
        _, secret = create_api_key(session, name="banner", role="frontend_app")
        session.commit()
    headers = {"Authorization": f"Bearer {secret}", "X-CDP-Purpose": "personalization",
               "Accept": "application/graphql-response+json"}  # fmt: skip
    response = client.post("/graphql", json={"query": "{ profiles { nodes { email } } }"}, headers=headers)
    assert response.status_code == 400 and "data" not in response.json()
    assert "personalization" in _messages(response.json())[0]


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            "query P($n: Int!) { profiles(first: $n) { nodes { id } } }",
            {"n": LEAK},
            "Variable '$n' has invalid value: Int cannot represent non-integer value.",
        ),
        (
            'query P($k: IdentifierKind!) { profileByIdentifier(kind: $k, value: "x") { id } }',
            {"k": LEAK},
            "Variable '$k' has invalid value: the value does not exist in 'IdentifierKind' enum.",
        ),
        (
            "query P($s: DateTime) { auditLog(since: $s) { nodes { seq } } }",
            {"s": LEAK},
            "Variable '$s' has invalid value: the value is not a valid DateTime.",
        ),
        (
            "query P($s: ID!) { profile(id: $s) { id } }",
            {"s": [LEAK]},
            "Variable '$s' has invalid value: ID cannot represent value.",
        ),
        (f'{{ profiles(first: "{LEAK}") {{ nodes {{ id }} }} }}', {}, "Int cannot represent non-integer value."),
    ],
)
def test_coercion_errors_name_the_rule_not_the_value(
    client: TestClient, headers: dict[str, str], query: str, variables: dict[str, Any], message: str
) -> None:
    response = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert _messages(response.json()) == [message]
    assert LEAK not in response.text
