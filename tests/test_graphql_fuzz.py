"""A bounded schemathesis run against the GraphQL schema: generated queries and mutations never get a 5xx.

Every root field is one test; hypothesis generates `MAX_EXAMPLES` documents for each (arguments of every
type, nested selections) and sends them through the real ASGI app as an admin, so the gate, the cost limits
and the resolvers all run. Kept small enough for CI (well under a minute on SQLite).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp.api.app import create_app
from cdp.auth.service import create_api_key
from cdp.store import Store
from graphql import (
    BooleanValueNode,
    IntValueNode,
    ListValueNode,
    NameNode,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
)
from tests.factories import event, ingest_all, order

MAX_EXAMPLES = 25
_KEYS = st.sampled_from(["source", "source_event_id", "type", "occurred_at", "identifiers", "email", "traits", "x"])


def _node(value: Any) -> ValueNode:
    """A JSON value as the GraphQL literal schemathesis writes into the document."""
    if value is None:
        return NullValueNode()
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, str):
        return StringValueNode(value=value)
    if isinstance(value, list):
        return ListValueNode(values=[_node(v) for v in value])
    return ObjectValueNode(fields=[ObjectFieldNode(name=NameNode(value=k), value=_node(v)) for k, v in value.items()])


_SCALARS = st.none() | st.booleans() | st.integers(-(2**31), 2**31 - 1) | st.text(max_size=30)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5))
# Event-shaped objects reach ingestion's validation, not only the argument parser.
_EVENTS = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["shopify", "", "Bad Source"]),
        "source_event_id": st.text(max_size=20),
        "type": st.sampled_from(["identify", "order", "ticket", "nope"]),
        "occurred_at": st.sampled_from(["2026-03-01T10:00:00+00:00", "yesterday", ""]),
        "identifiers": st.dictionaries(st.sampled_from(["email", "phone", "x"]), st.text(max_size=20), max_size=2),
    },
    optional={"traits": st.dictionaries(_KEYS, _SCALARS, max_size=3), "properties": _JSON},
)
schemathesis.graphql.scalar("JSON", (_EVENTS | _JSON).map(_node))


@pytest.fixture
def headers(store: Store) -> dict[str, str]:
    ingest_all(store, event({"email": "fuzz@example.com"}), order({"email": "fuzz@example.com"}))
    with store.session() as session:
        _, secret = create_api_key(session, name="fuzz", role="admin")
        session.commit()
    return {"Authorization": f"Bearer {secret}", "X-CDP-Purpose": "support"}


def test_generated_operations_never_get_a_server_error(
    store: Store, headers: dict[str, str], database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the fuzz run exercises the API, not the backend: SQLite only, to stay bounded")
    graphql_schema = schemathesis.graphql.from_asgi("/graphql", create_app(store), headers=headers)
    operations = [result.ok() for result in graphql_schema.get_all_operations()]
    assert len(operations) >= 20  # every root field of graphql/schema.graphql
    seen: list[str] = []

    for operation in operations:
        label = operation.label

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.body, response.text)
            messages = " ".join(e.get("message", "") for e in response.json().get("errors") or [])
            assert "maximum recursion depth exceeded" not in messages
            seen.append(label)  # noqa: B023 - check() runs inside this iteration

        check()
    assert len(set(seen)) == len(operations)
    print(f"{len(seen)} generated requests over {len(operations)} root fields, no server error")
