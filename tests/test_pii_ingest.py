"""PII classification at ingest: undeclared traits get a detected category and stay encrypted, free text gets a
redacted copy, findings become discovered fields (never values), declared fields are never analyzed, and
compliance officers read discovered fields over GraphQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from cdp.events.models import Event
from cdp.identity.groups import load_group
from cdp.ingest import classify
from cdp.ingest.classify import TraitClassifier
from cdp.ingest.service import ingest
from cdp.pii.discovered import list_discovered
from cdp.profiles.models import Trait
from cdp.store import Store
from tests import reads
from tests.factories import OPERATOR, event, ingest_all, order
from tests.graphql_client import GraphQLClient


def plaintext_cells(store: Store) -> str:
    """Every cell of every table as text (ciphertext as its bytes' repr): where a value must never appear."""
    metadata = sa.MetaData()
    metadata.reflect(bind=store.engine)
    with store.engine.connect() as conn:
        return "\n".join(repr(row) for table in metadata.sorted_tables for row in conn.execute(sa.select(table)))


def discovered(store: Store) -> dict[tuple[str, str], Any]:
    with store.session() as session:
        return {(d.location, d.entity_type): d for d in list_discovered(session, first=100)}


def ticket(body: str, **traits: str) -> dict[str, Any]:
    props = {"ticket_id": "40001", "subject": "Wrong size received", "body": body}
    return event({"email": "ticket.owner@example.com"}, type="ticket", source="support_desk", traits=traits,
                 properties=props)  # fmt: skip


@pytest.mark.parametrize(
    ("trait", "value", "entity_type", "category"),
    [
        ("work_email", "anna.schmidt@example.de", "EMAIL_ADDRESS", "user.contact.email"),
        ("cpf_number", "52998224725", "BR_CPF", "user.government_id"),  # bare digits: the trait name is the cue
        ("id_card_no", "11010519491231002X", "CN_RESIDENT_ID", "user.government_id"),  # 身份证号
    ],
)
def test_undeclared_trait_holding_personal_data_is_classified_encrypted_and_discovered(
    store: Store, trait: str, value: str, entity_type: str, category: str
) -> None:
    first, second = ingest_all(
        store,
        event({"email": "one@example.com"}, traits={trait: value}),
        event({"email": "two@example.com"}, traits={trait: value, "nickname": "Sunny"}),
    )
    assert first.status == second.status == "stored"
    with store.session() as session:
        rows = session.execute(sa.select(Trait.name, Trait.category).where(Trait.profile_id == first.profile_id))
        assert dict(rows.all()) == {trait: category}
        nickname = session.execute(sa.select(Trait.category).where(Trait.name == "nickname")).scalar_one()
        assert nickname == "user.unclassified"  # nothing personal detected: stays unclassified
        member = load_group(session, first.profile_id).member_ids
        assert reads.traits(session, store, member[0])[trait].value == value  # decrypts to the original
    assert value not in plaintext_cells(store)
    found = discovered(store)
    assert set(found) == {(f"traits.{trait}", entity_type)}
    field = found[(f"traits.{trait}", entity_type)]
    assert (field.category, field.occurrences) == (category, 2)
    assert field.first_seen <= field.last_seen


def test_ticket_body_keeps_a_redacted_copy_and_the_original_only_encrypted(store: Store) -> None:
    body = "Hi, call me on +49 30 12345678 or mail anna.schmidt@example.de.\nThanks, Anna"
    [outcome] = ingest_all(store, ticket(body, full_name="Anna Schmidt"))
    with store.session() as session:
        event_id, profile_id, ciphertext = session.execute(
            sa.select(Event.id, Event.profile_id, Event.redacted_ct)
        ).one()
        [view] = reads.events(session, store, outcome.profile_id, first=1)
    redacted = json.loads(store.keystore.decrypt(profile_id, "event", "redacted_text", event_id, ciphertext))
    assert redacted == {
        "subject": "Wrong size received",
        "body": "Hi, call me on <PHONE_NUMBER> or mail <EMAIL_ADDRESS>.\nThanks, <PERSON>",
    }
    assert view.properties["body"] == body  # the original, decrypted
    cells = plaintext_cells(store)
    for personal in ("anna.schmidt@example.de", "12345678", "Anna"):
        assert personal not in cells
    assert {key for key in discovered(store) if key[0] == "properties.ticket.body"} == {
        ("properties.ticket.body", "PHONE_NUMBER"),
        ("properties.ticket.body", "EMAIL_ADDRESS"),
        ("properties.ticket.body", "PERSON"),
    }


@pytest.fixture
def analyzed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the ingest classification hands to the analyzer."""
    texts: list[str] = []
    real = classify.analyze_batch

    def counting(batch: list[str], **kwargs: Any) -> Any:
        texts.extend(batch)
        return real(batch, **kwargs)

    monkeypatch.setattr(classify, "analyze_batch", counting)
    return texts


def test_declared_fields_are_not_analyzed(store: Store, analyzed: list[str]) -> None:
    declared = {"first_name": "Anna", "city": "Berlin 10115", "postal_code": "10115", "birthday": "1990-02-03"}
    outcomes = ingest_all(
        store,
        order({"email": "anna@example.com"}, traits=declared),
        event({"email": "anna@example.com"}, type="page_view",
              properties={"url": "https://shop.example.com/de/products/sn-180", "referrer": "https://t.co/1"}),
    )  # fmt: skip
    assert [o.status for o in outcomes] == ["stored", "stored"]
    assert analyzed == []
    assert discovered(store) == {}


def test_undeclared_properties_are_walked_with_their_keys_as_context(store: Store, analyzed: list[str]) -> None:
    raw = order({"email": "anna@example.com"})
    raw["properties"] |= {
        "gift": {"to": [{"cpf": "52998224725"}, {"note": "no digits here"}]},
        "coupon": "SPRING24",
        "bob@example.com": "mail bob@example.com",  # a key that is personal data stays out of the location
    }
    [outcome] = ingest_all(store, raw)
    assert outcome.status == "stored"
    assert sorted(analyzed) == ["52998224725", "SPRING24", "mail bob@example.com", "no digits here"]
    assert set(discovered(store)) == {
        ("properties.order.gift.to[].cpf", "BR_CPF"),
        ("properties.order.*", "EMAIL_ADDRESS"),
    }


def test_classification_off_stores_undeclared_traits_unclassified(store: Store) -> None:
    off = TraitClassifier.default(detect=False)
    events = [ticket("mail anna@example.de", ssn_note="mail anna@example.de")]
    [outcome] = store.run(lambda s: ingest(s, store, OPERATOR, events, classifier=off))
    with store.session() as session:
        assert session.execute(sa.select(Trait.category)).scalar_one() == "user.unclassified"
        assert session.execute(sa.select(Event.redacted_ct)).scalar_one() is None
    assert outcome.status == "stored" and discovered(store) == {}


DISCOVERED_FIELDS = """
query Discovered($first: Int!, $after: String) {
  discoveredFields(first: $first, after: $after) {
    nodes { location entityType category maxScore occurrences }
    pageInfo { hasNextPage endCursor }
  }
}"""


def test_discovered_fields_over_graphql_for_compliance_officers_only(store: Store) -> None:
    ingest_all(store, event({"email": "one@example.com"}, traits={"work_email": "a@example.de", "cpf": "52998224725"}))
    client = GraphQLClient(store)
    officer = client.key("compliance_officer")
    first = client.query(DISCOVERED_FIELDS, {"first": 1}, key=officer, purpose="legal_compliance")
    assert "errors" not in first
    page = first["data"]["discoveredFields"]
    assert page["nodes"] == [
        {"location": "traits.cpf", "entityType": "BR_CPF", "category": "user.government_id", "maxScore": 0.65,
         "occurrences": 1}
    ]  # fmt: skip
    assert page["pageInfo"]["hasNextPage"] is True
    after = {"first": 10, "after": page["pageInfo"]["endCursor"]}
    rest = client.query(DISCOVERED_FIELDS, after, key=officer, purpose="legal_compliance")["data"]["discoveredFields"]
    assert [n["location"] for n in rest["nodes"]] == ["traits.work_email"]
    assert rest["pageInfo"]["hasNextPage"] is False

    denied = client.query(DISCOVERED_FIELDS, {"first": 10}, key=client.key("marketing_tool"), purpose="marketing")
    assert denied.get("data") is None
    assert "may not read field 'discoveredFields' (category 'system.pii_findings')" in denied["errors"][0]["message"]
    subject = client.key("data_subject", profile_id=ingest_all(store, event({"email": "s@example.com"}))[0].profile_id)
    refused = client.query(DISCOVERED_FIELDS, {"first": 10}, key=subject, purpose="data_subject_rights")
    assert refused.get("data") is None and "access denied" in refused["errors"][0]["message"]
