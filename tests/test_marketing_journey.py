"""The marketing tool's journey through the real ASGI app, under its own role (a marketing_tool API key)
and purpose (marketing.email), with the trusted documents of graphql/operations/marketing/: define a
segment, evaluate it, page through its consented members, read scores and aggregates. Customers who did not
consent never appear. Denials: wrong role, wrong purpose, a data-subject token."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from cdp.access.gate import AccessContext
from cdp.consents.service import record_consent
from cdp.store import Store
from cdp.traits.service import compute_all
from tests.factories import ingest_all, order
from tests.graphql_client import GraphQLClient

EMAIL = "marketing.email"
GERMAN_BUYERS = {
    "name": "german-buyers",
    "description": "German speakers who ordered",
    "where": {
        "all": [{"field": "language", "op": "eq", "value": "de"}, {"field": "order_count", "op": "gte", "value": 1}]
    },
}


def _customer(store: Store, email: str, country: str, language: str, *, consent: str | None) -> str:
    [o] = ingest_all(
        store,
        order({"email": email}, country=country, total="40", currency="EUR",
              traits={"first_name": email.split("@")[0].title(), "language": language, "country": country}),
    )  # fmt: skip
    if consent:
        with store.session() as s:
            record_consent(s, AccessContext.operator(EMAIL), profile_id=o.profile_id, purpose=EMAIL, status=consent,
                           source="banner")  # fmt: skip
            s.commit()
    return o.profile_id


@pytest.fixture
def shop(store: Store) -> dict[str, str]:
    people = {
        "anna": _customer(store, "anna@example.de", "DE", "de", consent="granted"),
        "bernd": _customer(store, "bernd@example.at", "AT", "de", consent="granted"),
        "clara": _customer(store, "clara@example.de", "DE", "de", consent=None),  # never asked: EU opt-in
        "dora": _customer(store, "dora@example.ch", "DE", "de", consent="withdrawn"),
        "erik": _customer(store, "erik@example.com", "US", "de", consent=None),  # US: opt-out, not objected
    }
    for i in range(11):  # enough US customers for an aggregate above the privacy floor
        _customer(store, f"us{i}@example.com", "US", "en", consent=None)
    with store.session() as s:
        compute_all(s, store, AccessContext.operator("analytics"))
        s.commit()
    return people


def test_marketing_tool_journey(store: Store, gql: GraphQLClient, shop: dict[str, str]) -> None:
    key = gql.key("marketing_tool")
    created = gql.run("CreateSegment", {"definition": GERMAN_BUYERS}, key=key, purpose=EMAIL)
    assert "errors" not in created, created
    segment = created["data"]["createSegment"]
    assert (segment["name"], segment["version"]) == ("german-buyers", 1)

    evaluated = gql.run("EvaluateSegment", {"id": segment["id"], "destinationCountry": "DE"}, key=key, purpose=EMAIL)
    assert evaluated["data"]["evaluateSegment"]["size"] == 3  # anna, bernd, erik: never the 5 who match

    seen, pages, cursor = [], 0, None
    while True:
        variables = {"id": "german-buyers", "destinationCountry": "DE", "first": 2, "after": cursor}
        page = gql.run("SegmentAudience", variables, key=key, purpose=EMAIL)
        assert "errors" not in page, page
        for withheld in ("clara", "dora"):
            assert shop[withheld] not in json.dumps(page) and f"{withheld}@" not in json.dumps(page)
        members = page["data"]["segment"]["members"]
        seen.extend(members["nodes"])
        pages += 1
        if not members["pageInfo"]["hasNextPage"]:
            break
        cursor = members["pageInfo"]["endCursor"]
    assert pages == 2
    assert {m["id"] for m in seen} == {shop["anna"], shop["bernd"], shop["erik"]}
    assert {m["email"] for m in seen} == {"anna@example.de", "bernd@example.at", "erik@example.com"}
    assert {m["language"] for m in seen} == {"de"} and all(m["rScore"] for m in seen)

    since = datetime.now(UTC) + timedelta(minutes=1)
    later = gql.run("SegmentAudience", {"id": "german-buyers", "destinationCountry": "DE", "since": since.isoformat()},
                    key=key, purpose=EMAIL)  # fmt: skip
    assert later["data"]["segment"]["members"]["nodes"] == []

    scores = gql.run("CustomerScores", {"id": shop["anna"]}, key=key, purpose=EMAIL)["data"]["profile"]
    assert scores["computedTraits"]["orderCount"] == 1 and scores["computedTraits"]["preferredLanguage"] == "de"
    withheld = gql.run("CustomerScores", {"id": shop["clara"]}, key=key, purpose=EMAIL)
    assert withheld["data"]["profile"]["computedTraits"] is None
    assert withheld["extensions"]["redactions"][0]["reason"].startswith("no consent for marketing.email")

    listed = gql.run("Segments", {"destinationCountry": "DE"}, key=key, purpose=EMAIL)["data"]["segments"]
    assert [(s["name"], s["size"]) for s in listed] == [("german-buyers", 3)]

    aggregates = gql.run("MarketingAggregates", {"by": "country"}, key=key, purpose="marketing")
    assert "errors" not in aggregates, aggregates
    # 12 US customers may be reached for marketing (opt-out); the 2 consenting EU customers are below k = 10.
    [us] = aggregates["data"]["marketingAggregates"]
    assert (us["group"], us["customers"], us["repeatPurchaseRate"]) == ("US", 12, 0.0)

    with store.session() as s:
        reads = s.execute(
            select(AuditEntry).where(AuditEntry.operation == "graphql:SegmentAudience", AuditEntry.outcome == "allowed")
        ).scalars().all()  # fmt: skip
    assert reads and all(e.role == "marketing_tool" and e.purpose == EMAIL for e in reads)
    assert set().union(*(e.subject_id_list for e in reads)) == {shop["anna"], shop["bernd"], shop["erik"]}
    assert "user.contact.email" in reads[0].category_list


def _audience(gql: GraphQLClient, key: str, purpose: str) -> dict:
    return gql.run("SegmentAudience", {"id": "german-buyers", "destinationCountry": "DE"}, key=key, purpose=purpose)


def _denied(response: dict) -> str:
    assert response.get("data") is None or response["data"].get("segment") is None, response
    message = response["errors"][0]["message"]
    assert "access denied" in message, message
    return message


def test_denials(store: Store, gql: GraphQLClient, shop: dict[str, str]) -> None:
    gql.run("CreateSegment", {"definition": GERMAN_BUYERS}, key=gql.key("marketing_tool"), purpose=EMAIL)
    gql.run("EvaluateSegment", {"id": "german-buyers", "destinationCountry": "DE"}, key=gql.key("admin"), purpose=EMAIL)

    support = gql.key("support_agent")  # wrong role: refused before execution, and by the service
    assert "role 'support_agent'" in _denied(_audience(gql, support, "support"))
    listed = gql.run("Segments", {"destinationCountry": "DE"}, key=support, purpose="support")
    assert "system.segment" in listed["errors"][0]["message"] and listed.get("data") is None
    assert "user.contact.email" in _denied(_audience(gql, gql.key("marketing_tool"), "support"))  # wrong purpose
    assert "user.contact.email" in _denied(_audience(gql, gql.key("marketing_tool"), "marketing.ads"))  # ads: no email
    token = gql.key("data_subject", profile_id=shop["anna"])
    assert "data-subject token" in _denied(_audience(gql, token, "data_subject_rights"))
    created = gql.run("CreateSegment", {"definition": {**GERMAN_BUYERS, "name": "x"}}, key=token,
                      purpose="data_subject_rights")  # fmt: skip
    _denied(created)
    bad = gql.run("CreateSegment", {"definition": {"name": "x", "where": {"all": []}}}, key=gql.key("marketing_tool"),
                  purpose=EMAIL)  # fmt: skip
    assert bad["errors"][0]["message"] == "where.all: a non-empty list of conditions"

    with store.session() as s:
        denials = s.execute(select(AuditEntry).where(AuditEntry.outcome == "denied")).scalars().all()
    assert {e.role for e in denials} >= {"support_agent", "marketing_tool", "data_subject"}
    assert all(not e.subject_id_list for e in denials)
