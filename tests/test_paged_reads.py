"""A page of customers costs a constant number of SQL statements, whatever its size: merge groups, consent,
restriction and erasure state and the values are loaded for the whole page at once (no N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event as sa_event

from cdp.store import Store
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient

PAGE = "query($n: Int!) { profiles(first: $n) { nodes { id firstName email language } } }"


@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001 - SQLAlchemy's hook signature
        seen.append(statement)

    sa_event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa_event.remove(store.engine, "before_cursor_execute", count)


def test_page_cost_does_not_grow_with_the_page(store: Store, gql: GraphQLClient) -> None:
    customers = [
        event({"email": f"p{i}@example.de"}, country="DE", traits={"first_name": f"P{i}", "language": "de"})
        for i in range(30)
    ]
    customers += [event({"email": f"p{i}@example.de", "phone": f"+49151000000{i:02d}"}) for i in range(0, 30, 3)]
    ingest_all(store, *customers)  # every third customer merged from two profiles
    key = gql.key("marketing_tool")  # marketing.email needs consent in the EU: every row is decided per subject
    gql.query(PAGE, {"n": 1}, key=key, purpose="marketing.email")  # the key's last-use write happens once
    costs = {}
    for size in (5, 30):
        with _statements(store) as seen:
            response = gql.query(PAGE, {"n": size}, key=key, purpose="marketing.email")
        assert len(response["data"]["profiles"]["nodes"]) == size
        assert len(response["extensions"]["redactions"]) == 3 * size  # no consent: firstName, email, language
        costs[size] = len(seen)
    assert costs[30] == costs[5], costs


def test_a_lookup_costs_one_statement_per_step(store: Store, gql: GraphQLClient) -> None:
    """profileByIdentifier of a customer never merged: the key, the holding profile, its merge group, its
    identifiers, its traits; then the audit entry (chain lock, chain head, insert). Eight statements on the data
    database, none twice. The signed checkpoint's walk over the entries since the last one is left to its timer
    (CDP_AUDIT_CHECKPOINT_SECONDS; an hour here, so that it never falls inside the count)."""
    store.settings = store.settings.model_copy(update={"audit_checkpoint_seconds": 3600})
    ingest_all(store, event({"email": "one@example.de"}, country="DE", traits={"first_name": "Ida"}))
    key = gql.key("admin")
    lookup = 'query { profileByIdentifier(kind: email, value: "one@example.de") { firstName email } }'
    gql.query(lookup, key=key, purpose="support")  # the key's last-use write happens once
    with _statements(store) as seen:
        response = gql.query(lookup, key=key, purpose="support")
    assert response["data"]["profileByIdentifier"]["firstName"] == "Ida"
    assert len(seen) == 8, "\n".join(seen)
