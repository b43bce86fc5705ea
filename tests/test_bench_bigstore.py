"""The read benchmark's store builder (bench/_bigstore.py) writes rows the read path serves as it serves ingested
ones: the GraphQL pages, the look-up and the events of a built store return exactly what was built (expected
values written out by hand below, not derived from the builder's helpers)."""

from __future__ import annotations

from bench._bigstore import build
from cdp.store import Store
from tests.graphql_client import GraphQLClient

PAGE = """query($after: String) { profiles(first: 100, after: $after) {
  nodes { id firstName lastName email city } pageInfo { endCursor hasNextPage } } }"""
LOOKUP = 'query { profileByIdentifier(kind: email, value: "Customer137@Shop-Mail.de") { id firstName lastName city } }'
EVENTS = """query($id: ID!, $after: String) { profile(id: $id) { events(first: 100, after: $after) {
  nodes { type occurredAt amount { amount currency } } pageInfo { endCursor hasNextPage } } } }"""


def test_a_built_store_reads_back_what_was_built(store: Store, gql: GraphQLClient) -> None:
    built = build(store, 200, 250, chunk=64, log=lambda _: None)  # chunks of 64: keys, rows and commits per chunk
    admin = gql.key("admin")

    # Every customer, two pages of 100, in one order; marketing.email is withdrawn by every fifth customer
    # (4, 9, 14, ...), whose values the page redacts.
    nodes, after, pages = [], None, 0
    while True:
        page = gql.query(PAGE, {"after": after}, key=admin, purpose="marketing.email")
        nodes += page["data"]["profiles"]["nodes"]
        pages += 1
        if not page["data"]["profiles"]["pageInfo"]["hasNextPage"]:
            break
        after = page["data"]["profiles"]["pageInfo"]["endCursor"]
    assert pages == 2 and len(nodes) == 200
    emails = {n["email"] for n in nodes}
    assert len(emails) == 161  # 160 consenting customers' emails, and None for the 40 who withdrew
    assert "customer0@shop-mail.de" in emails and "customer199@shop-mail.de" not in emails  # 199 withdrew
    first = next(n for n in nodes if n["email"] == "customer0@shop-mail.de")
    assert first == {"id": built.heavy_id, "firstName": "Vorname0", "lastName": "Nachname0",
                     "email": "customer0@shop-mail.de", "city": "Berlin"}  # fmt: skip
    assert sum(n["firstName"] is None for n in nodes) == 40

    # The look-up finds a customer by its email through the blind index (normalized: case does not matter).
    found = gql.query(LOOKUP, key=admin, purpose="support")["data"]["profileByIdentifier"]
    assert (found["firstName"], found["lastName"], found["city"]) == ("Vorname137", "Nachname137", "München")

    # Customer 0's events: the identify event plus 250 more, newest first, in three pages.
    events, after = [], None
    while True:
        page = gql.query(EVENTS, {"id": built.heavy_id, "after": after}, key=admin, purpose="support")
        connection = page["data"]["profile"]["events"]
        events += connection["nodes"]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert len(events) == 251
    times = [e["occurredAt"] for e in events]
    assert times == sorted(times, reverse=True)
    assert sum(e["type"] == "identify" for e in events) == 1
    orders = [e for e in events if e["type"] in ("order", "cart")]
    assert orders and all(e["amount"]["currency"] == "EUR" and e["amount"]["amount"].endswith(".90") for e in orders)

    # Another customer: only its identify event.
    other = next(n["id"] for n in nodes if n["id"] != built.heavy_id)
    page = gql.query(EVENTS, {"id": other, "after": None}, key=admin, purpose="support")
    assert [e["type"] for e in page["data"]["profile"]["events"]["nodes"]] == ["identify"]
