"""Merges, unmerges and review decisions as governed operations: GraphQL and CLI doors, audit entries, and a
denial for every write (wrong role, wrong purpose, data-subject token)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from audit.models import AuditEntry
from cdp.cli.main import app
from cdp.identity.groups import load_group
from cdp.identity.models import KeepApart, ReviewItem
from cdp.settings import Settings
from cdp.store import Store
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient, operations

OPS = Path(__file__).resolve().parent.parent / "graphql" / "operations"
DECIDE = (OPS / "support" / "DecideReviewItem.graphql").read_text()
runner = CliRunner()


def _customer(store: Store, identifiers: dict[str, str]) -> str:
    [outcome] = ingest_all(store, event(identifiers, country="BR"))
    assert outcome.status == "stored", outcome.errors
    return outcome.profile_id or ""


def _conflict(store: Store) -> tuple[str, str, str]:
    """Two Shopify customers bridged by a shared phone: the rules keep them apart and open a review item."""
    a = _customer(store, {"shopify_customer_id": "5001", "email": "rita@example.br"})
    b = _customer(store, {"shopify_customer_id": "5002", "email": "rita.s@example.br"})
    _customer(store, {"email": "rita@example.br", "phone": "+55 21 99876-5432"})
    [bridge] = ingest_all(store, event({"email": "rita.s@example.br", "phone": "+5521998765432"}, country="BR"))
    assert bridge.review_item_id is not None
    return a, b, bridge.review_item_id


def _root(store: Store, profile_id: str) -> str:
    with store.session() as s:
        return load_group(s, profile_id).root.id


def _entries(store: Store, operation: str) -> list[AuditEntry]:
    with store.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.operation == operation)).scalars())


def test_merge_and_unmerge_are_audited_with_their_reason(store: Store, gql: GraphQLClient) -> None:
    a = _customer(store, {"email": "lia@example.br"})
    b = _customer(store, {"email": "lia.work@example.br"})
    agent = gql.key("support_agent")
    merged = gql.run(
        "MergeCustomers", {"survivorId": a, "absorbedId": b, "reason": "customer called: same person"},
        key=agent, purpose="identity_resolution",
    )  # fmt: skip
    assert sorted(merged["data"]["mergeProfiles"]["profile"]["memberIds"]) == sorted([a, b])
    [entry] = _entries(store, "identity.merge")
    assert (entry.role, entry.purpose, entry.outcome) == ("support_agent", "identity_resolution", "allowed")
    assert sorted(entry.subject_id_list) == sorted([a, b]) and "customer called: same person" in entry.detail
    undone = gql.run("UnmergeCustomer", {"profileId": b, "reason": "wrong merge"}, key=agent,
                     purpose="identity_resolution")  # fmt: skip
    assert undone["data"]["unmergeProfile"] == {"id": b, "memberIds": [b]}
    [entry] = _entries(store, "identity.unmerge")
    assert sorted(entry.subject_id_list) == sorted([a, b]) and "wrong merge" in entry.detail
    with store.session() as s:
        [pair] = s.execute(select(KeepApart)).scalars()
    assert {pair.profile_a, pair.profile_b} == {a, b}


def test_a_reason_is_required(store: Store, gql: GraphQLClient) -> None:
    a = _customer(store, {"email": "ana@example.br"})
    b = _customer(store, {"email": "ana.b@example.br"})
    result = gql.run("MergeCustomers", {"survivorId": a, "absorbedId": b, "reason": "  "}, key=gql.key("admin"),
                     purpose="identity_resolution")  # fmt: skip
    assert result["errors"][0]["message"] == "reason: required (say why, without customer data)"
    assert _root(store, b) == b


def test_the_rules_refuse_a_merge_unless_overridden(store: Store, gql: GraphQLClient) -> None:
    a, b, _ = _conflict(store)
    admin = gql.key("admin")
    variables = {"survivorId": a, "absorbedId": b, "reason": "checked the orders"}
    refused = gql.run("MergeCustomers", variables, key=admin, purpose="identity_resolution")
    assert "merge refused: shopify_customer_id" in refused["errors"][0]["message"]
    forced = gql.run("MergeCustomers", {**variables, "overrideRules": True}, key=admin, purpose="identity_resolution")
    assert "errors" not in forced
    assert _root(store, b) == a
    with store.session() as s:
        assert s.execute(select(ReviewItem.status)).scalar_one() == "merged"  # the open question is answered


MERGE_AS = [
    ("support_agent", "support"),  # right role, wrong purpose
    ("marketing_tool", "identity_resolution"),  # wrong role
    ("analyst", "identity_resolution"),
    ("frontend_app", "order_fulfillment"),  # holds write on user.unique_id.*, but not for this purpose
]


@pytest.mark.parametrize(("role", "purpose"), MERGE_AS)
def test_every_write_is_denied_to_the_wrong_role_or_purpose(
    store: Store, gql: GraphQLClient, role: str, purpose: str
) -> None:
    a, b, item = _conflict(store)
    key = gql.key(role)
    attempts = [
        ("MergeCustomers", {"survivorId": a, "absorbedId": b, "reason": "x", "overrideRules": True}),
        ("UnmergeCustomer", {"profileId": b, "reason": "x"}),
        ("OpenReviewItems", {}),
    ]
    for name, variables in attempts:
        result = gql.run(name, variables, key=key, purpose=purpose)
        assert "access denied" in result["errors"][0]["message"], (name, result)
    decided = gql.query(DECIDE, {"id": item, "decision": "merge", "reason": "x"}, key=key, purpose=purpose)
    assert "access denied" in decided["errors"][0]["message"]
    assert _root(store, b) == b
    with store.session() as s:
        assert s.get(ReviewItem, item).status == "open"
        denials = s.execute(select(AuditEntry).where(AuditEntry.outcome == "denied")).scalars().all()
    assert len(denials) == 4 and {d.role for d in denials} == {role}


def test_data_subject_tokens_may_not_merge_unmerge_or_decide(store: Store, gql: GraphQLClient) -> None:
    a, b, item = _conflict(store)
    for own in (a, b):  # neither for their own group nor for another customer's
        token = gql.key("data_subject", profile_id=own)
        for name, variables in [
            ("MergeCustomers", {"survivorId": a, "absorbedId": b, "reason": "me", "overrideRules": True}),
            ("UnmergeCustomer", {"profileId": own, "reason": "me"}),
        ]:
            result = gql.run(name, variables, key=token, purpose="data_subject_rights")
            assert "access denied" in result["errors"][0]["message"]
        decided = gql.query(
            DECIDE, {"id": item, "decision": "keep_apart", "reason": "me"}, key=token, purpose="identity_resolution"
        )
        assert "access denied" in decided["errors"][0]["message"]
    assert _root(store, b) == b


def test_keep_apart_is_remembered_and_not_asked_again(store: Store, gql: GraphQLClient) -> None:
    a, b, item = _conflict(store)
    agent = gql.key("support_agent")
    listed = gql.run("OpenReviewItems", key=agent, purpose="identity_resolution")["data"]["reviewItems"]
    assert [(i["id"], sorted(i["profileIds"]), i["origin"]) for i in listed] == [(item, sorted([a, b]), "rule")]
    decided = gql.query(DECIDE, {"id": item, "decision": "keep_apart", "reason": "two people"}, key=agent,
                        purpose="identity_resolution")  # fmt: skip
    assert decided["data"]["decideReviewItem"]["status"] == "kept_apart"
    [again] = ingest_all(store, event({"email": "rita.s@example.br", "phone": "+5521998765432"}, country="BR"))
    assert again.review_item_id is None and again.merged_profile_ids == []
    assert gql.run("OpenReviewItems", key=agent, purpose="identity_resolution")["data"]["reviewItems"] == []
    twice = gql.query(DECIDE, {"id": item, "decision": "merge", "reason": "changed my mind"}, key=agent,
                      purpose="identity_resolution")  # fmt: skip
    assert twice["errors"][0]["message"] == f"review item {item} was already decided (kept_apart)"
    [entry] = _entries(store, "identity.review.keep_apart")
    assert sorted(entry.subject_id_list) == sorted([a, b]) and entry.detail == "keep_apart: two people"


def test_deciding_merge_joins_the_customers_the_rule_kept_apart(store: Store, gql: GraphQLClient) -> None:
    a, b, item = _conflict(store)
    decided = gql.query(DECIDE, {"id": item, "decision": "merge", "reason": "same customer, two shop accounts"},
                        key=gql.key("support_agent"), purpose="identity_resolution")  # fmt: skip
    assert decided["data"]["decideReviewItem"]["status"] == "merged"
    assert _root(store, b) == _root(store, a) == a
    [entry] = _entries(store, "identity.review.merge")
    assert entry.detail.startswith("merge: merges ")


def test_dismiss_closes_the_item_without_linking(store: Store, gql: GraphQLClient) -> None:
    a, b, item = _conflict(store)
    decided = gql.query(DECIDE, {"id": item, "decision": "dismiss", "reason": "not enough to decide"},
                        key=gql.key("admin"), purpose="identity_resolution")  # fmt: skip
    assert decided["data"]["decideReviewItem"]["status"] == "dismissed"
    assert {_root(store, a), _root(store, b)} == {a, b}


def test_cli_merge_unmerge_review_and_decide(store: Store, cli_env: Settings) -> None:
    a, b, item = _conflict(store)
    refused = runner.invoke(app, ["merge", a, b, "--reason", "phone call"])
    assert refused.exit_code == 1 and "merge refused" in refused.output
    listed = runner.invoke(app, ["identity", "review"])
    assert listed.exit_code == 0 and item in listed.output and "rita" not in listed.output
    decided = runner.invoke(app, ["identity", "decide", item, "merge", "--reason", "phone call"])
    assert decided.exit_code == 0, decided.output
    assert _root(store, b) == a
    undone = runner.invoke(app, ["unmerge", b, "--reason", "wrong after all"])
    assert undone.exit_code == 0, undone.output
    assert _root(store, b) == b
    again = runner.invoke(app, ["merge", a, b, "--reason", "retry"])
    assert again.exit_code == 1 and "kept apart by a person's decision" in again.output
    missing = runner.invoke(app, ["unmerge", b])
    assert missing.exit_code != 0 and "--reason" in missing.output
    for operation in ("identity.review.merge", "identity.unmerge"):
        [entry] = _entries(store, operation)
        assert entry.actor.startswith("cli:") and entry.purpose == "identity_resolution"


def test_operation_documents_name_the_new_arguments() -> None:
    assert "reason: $reason" in operations()["MergeCustomers"]
    assert "# purpose: identity_resolution" in DECIDE
