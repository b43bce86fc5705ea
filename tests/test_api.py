"""The GraphQL door: look-ups, pagination, ingestion, merge/unmerge, and clear refusals of bad requests."""

from __future__ import annotations

from cdp.store import Store
from tests.factories import event, ingest_all, order
from tests.graphql_client import GraphQLClient, operations


def _customer(store: Store, email: str, **kw) -> str:  # noqa: ANN003
    [outcome] = ingest_all(store, order({"email": email}, **kw))
    assert outcome.status == "stored", outcome.errors
    return outcome.profile_id


def test_lookup_by_identifier_returns_decrypted_fields(store: Store, gql: GraphQLClient) -> None:
    pid = _customer(store, "Jose.Nunez@example.es", country="ES", traits={"first_name": "José", "language": "es"})
    storefront = gql.key("frontend_app")
    data = gql.run("CustomerByEmail", {"email": "  JOSE.NUNEZ@example.es"}, key=storefront, purpose="order_fulfillment")
    assert data["data"]["profileByIdentifier"] == {
        "id": pid,
        "firstName": "José",
        "lastName": None,
        "email": "jose.nunez@example.es",
        "phone": None,
        "country": None,
    }
    missing = gql.run("CustomerByEmail", {"email": "nobody@example.es"}, key=storefront, purpose="order_fulfillment")
    assert missing["data"]["profileByIdentifier"] is None


def test_profiles_and_events_are_cursor_paginated(store: Store, gql: GraphQLClient) -> None:
    created = [_customer(store, f"c{i}@example.com") for i in range(3)]
    ids = sorted(created)
    admin = gql.key("admin")
    first = gql.run("Customers", {"first": 2}, key=admin, purpose="support")["data"]["profiles"]
    assert [n["id"] for n in first["nodes"]] == ids[:2] and first["pageInfo"]["hasNextPage"]
    rest = gql.run("Customers", {"first": 2, "after": first["pageInfo"]["endCursor"]}, key=admin, purpose="support")
    assert [n["id"] for n in rest["data"]["profiles"]["nodes"]] == ids[2:]
    assert rest["data"]["profiles"]["pageInfo"]["hasNextPage"] is False

    pid = created[0]
    ingest_all(store, *[order({"email": "c0@example.com"}, total=f"{i}.00") for i in range(4)])
    seen: list[str] = []
    after = None
    while True:
        page = gql.run("CustomerOrders", {"id": pid, "first": 2, "after": after}, key=admin, purpose="support")
        events = page["data"]["profile"]["events"]
        seen += [n["id"] for n in events["nodes"]]
        if not events["pageInfo"]["hasNextPage"]:
            break
        after = events["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 5


def test_identities_are_masked_unless_revealed(store: Store, gql: GraphQLClient) -> None:
    pid = _customer(store, "mei.tanaka@example.jp", country="JP")
    admin = gql.key("admin")
    masked = gql.run("CustomerIdentities", {"id": pid}, key=admin, purpose="support")
    [identity] = masked["data"]["profile"]["identities"]
    assert identity["value"] == "m***@e***.jp"
    revealed = gql.run("CustomerIdentities", {"id": pid, "reveal": True}, key=admin, purpose="support")
    assert revealed["data"]["profile"]["identities"][0]["value"] == "mei.tanaka@example.jp"


def test_ingest_mutation_stores_good_events_and_explains_bad_ones(store: Store, gql: GraphQLClient) -> None:
    admin = gql.key("admin")
    events = [
        order({"email": "good@example.com"}),
        event({"email": "x@example.com"}, type="teleport"),
        event({"email": "not-an-email"}),
        event({"phone": "+1 555"}, country="US"),
    ]
    result = gql.run("SendEvents", {"events": events}, key=admin, purpose="order_fulfillment")
    outcomes = result["data"]["ingestEvents"]
    assert [o["status"] for o in outcomes] == ["stored", "rejected", "rejected", "rejected"]
    assert outcomes[1]["errors"] == [
        "type: unknown event type; expected one of identify, order, cart, page_view, ticket, review, subscribe, track"
    ]
    assert outcomes[2]["errors"] == [
        "identifiers.email: not a valid address (expected local@domain.tld)",
        "identifiers: no usable identifier left",
    ]
    assert "identifiers.phone" in outcomes[3]["errors"][0]
    again = gql.run("SendEvents", {"events": events[:1]}, key=admin, purpose="order_fulfillment")
    assert again["data"]["ingestEvents"][0]["status"] == "duplicate"


def test_merge_and_unmerge_through_the_api(store: Store, gql: GraphQLClient) -> None:
    a = _customer(store, "a@example.com")
    b = _customer(store, "b@example.com")
    admin = gql.key("admin")
    merged = gql.run(
        "MergeCustomers", {"survivorId": a, "absorbedId": b, "reason": "same person"}, key=admin,
        purpose="identity_resolution",
    )  # fmt: skip
    assert sorted(merged["data"]["mergeProfiles"]["profile"]["memberIds"]) == sorted([a, b])
    looked_up = gql.run("CustomerByEmail", {"email": "b@example.com"}, key=admin, purpose="support")
    assert looked_up["data"]["profileByIdentifier"]["id"] == a
    undone = gql.run("UnmergeCustomer", {"profileId": b, "reason": "wrong"}, key=admin, purpose="identity_resolution")
    assert undone["data"]["unmergeProfile"] == {"id": b, "memberIds": [b]}
    again = gql.run("UnmergeCustomer", {"profileId": b, "reason": "wrong"}, key=admin, purpose="identity_resolution")
    assert again["errors"][0]["message"] == f"profile {b} is not merged into another profile"


def test_bad_requests_are_refused_with_clear_errors(store: Store, gql: GraphQLClient) -> None:
    admin = gql.key("admin")
    body = {"query": operations()["CustomerByEmail"], "variables": {"email": "a@example.com"}}
    missing = gql.post(body, key=admin, purpose=None)
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["message"].startswith("missing X-CDP-Purpose header")
    unknown = gql.post(body, key=admin, purpose="curiosity")
    assert unknown.status_code == 400 and "unknown purpose 'curiosity'" in unknown.text
    no_key = gql.post(body, key=None, purpose="support")
    assert no_key.status_code == 401 and "missing Authorization header" in no_key.text
    bad_key = gql.post(body, key="cdp_not-a-real-key", purpose="support")
    assert bad_key.status_code == 401 and bad_key.json()["errors"][0]["message"] == "unknown API key"
    get = gql.http.get("/graphql", params={"query": "{ profiles { nodes { id } } }"})
    assert get.status_code == 405
    not_json = gql.http.post("/graphql", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.text
