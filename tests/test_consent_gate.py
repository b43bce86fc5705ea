"""Consent on every read: without it a marketing read returns nulls with redactions, with it values, and a
withdrawal (or a GPC signal) takes effect on the very next read."""

from __future__ import annotations

from cdp.store import Store
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient

TRAITS = {"first_name": "Lena", "language": "de"}


def _customer(store: Store, email: str, country: str, **traits: str) -> str:
    [outcome] = ingest_all(store, event({"email": email}, country=country, traits={**TRAITS, **traits}))
    return outcome.profile_id


def _contact(gql: GraphQLClient, key: str, pid: str) -> dict:
    return gql.run("CampaignContact", {"id": pid}, key=key, purpose="marketing.email")


def test_marketing_read_follows_consent_grant_and_withdrawal(store: Store, gql: GraphQLClient) -> None:
    pid = _customer(store, "lena@example.de", "DE")
    marketing, banner = gql.key("marketing_tool"), gql.key("frontend_app")

    before = _contact(gql, marketing, pid)
    assert before["data"]["profile"] == {
        "id": pid,
        "firstName": None,
        "email": None,
        "language": None,
        "timezone": None,
    }
    redactions = before["extensions"]["redactions"]
    # every personal field asked for is reported, stored or not: the report must not tell what is held
    assert {r["path"] for r in redactions} == {
        "profile.firstName",
        "profile.email",
        "profile.language",
        "profile.timezone",
    }
    assert {r["reason"] for r in redactions} == {"no consent for marketing.email (EU: opt-in)"}
    assert {r["subjectId"] for r in redactions} == {pid}

    granted = gql.run(
        "RecordConsent",
        {
            "profileId": pid,
            "purpose": "marketing.email",
            "status": "granted",
            "source": "banner",
            "noticeVersion": "2026-10",
            "noticeText": "We will email you offers.",
        },
        key=banner,
        purpose="marketing.email",
    )["data"]["recordConsent"]
    assert granted["legalBasis"] == "consent" and granted["jurisdiction"] == "EU"
    assert len(granted["noticeTextHash"]) == 64

    after = _contact(gql, marketing, pid)
    assert after["data"]["profile"]["email"] == "lena@example.de"
    assert after["data"]["profile"]["firstName"] == "Lena"
    assert "extensions" not in after or not after["extensions"].get("redactions")

    gql.run("WithdrawConsent", {"profileId": pid, "purpose": "marketing.email"}, key=banner, purpose="marketing.email")
    withdrawn = _contact(gql, marketing, pid)
    assert withdrawn["data"]["profile"]["email"] is None
    assert withdrawn["extensions"]["redactions"][0]["reason"] == "consent withdrawn for marketing.email"

    state = gql.run("ConsentState", {"profileId": pid}, key=banner, purpose="marketing.email")
    by_purpose = {c["purpose"]: c for c in state["data"]["consents"]}
    assert by_purpose["marketing.email"]["status"] == "withdrawn" and not by_purpose["marketing.email"]["permitted"]
    assert by_purpose["support"]["permitted"]  # contract basis: consent does not gate it
    history = gql.run("ConsentHistory", {"profileId": pid}, key=banner, purpose="marketing.email")
    assert [h["status"] for h in history["data"]["consentHistory"]] == ["granted", "withdrawn"]


def test_objection_to_a_parent_purpose_beats_an_older_child_grant(store: Store, gql: GraphQLClient) -> None:
    pid = _customer(store, "jo@example.br", "BR")
    banner, marketing = gql.key("frontend_app"), gql.key("marketing_tool")
    for purpose, status in (("marketing.email", "granted"), ("marketing", "withdrawn")):
        gql.run(
            "RecordConsent",
            {"profileId": pid, "purpose": purpose, "status": status, "source": "api"},
            key=banner,
            purpose="marketing",
        )
    assert _contact(gql, marketing, pid)["data"]["profile"]["email"] is None


def test_opt_out_jurisdiction_allows_until_objection_and_gpc_opts_out_of_sharing(
    store: Store, gql: GraphQLClient
) -> None:
    pid = _customer(store, "sam@example.com", "US", region="CA")
    marketing, storefront = gql.key("marketing_tool"), gql.key("frontend_app")
    ads = gql.run("AdAudienceMember", {"id": pid}, key=marketing, purpose="marketing.ads")
    assert ads.get("data") and ads["data"]["profile"]["firstName"] == "Lena", (
        ads
    )  # California: opt-out, nobody objected yet

    gql.run(
        "SendEvents",
        {
            "events": [
                event(
                    {"email": "sam@example.com"},
                    type="order",
                    country="US",
                    properties={"total": "5.00", "currency": "USD"},
                )
            ]
        },
        key=storefront,
        purpose="order_fulfillment",
        **{"Sec-GPC": "1"},
    )
    ads = gql.run("AdAudienceMember", {"id": pid}, key=marketing, purpose="marketing.ads")
    assert ads["data"]["profile"]["firstName"] is None
    assert ads["extensions"]["redactions"][0]["reason"].startswith("consent withdrawn for marketing")
    history = gql.run("ConsentHistory", {"profileId": pid}, key=storefront, purpose="support")
    assert {(h["purpose"], h["source"]) for h in history["data"]["consentHistory"]} >= {("marketing.ads", "gpc")}
    email = gql.run("CampaignContact", {"id": pid}, key=marketing, purpose="marketing.email")
    assert email["data"]["profile"]["email"] == "sam@example.com"  # email marketing is not sale/sharing
