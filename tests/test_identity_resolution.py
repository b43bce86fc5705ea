"""Identity resolution through the ingest service, on both backends."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cdp.access.gate import AccessContext
from cdp.cli.importer import ImportReport, import_file
from cdp.identity.groups import load_group
from cdp.identity.models import MergeRecord, Profile, ReviewItem
from cdp.identity.rules import identity_rules
from cdp.resolution import service as resolution
from cdp.store import Store
from tests import reads
from tests.factories import OPERATOR, event, ingest_all, order


def _one(store: Store, raw: dict) -> str:
    [outcome] = ingest_all(store, raw)
    assert outcome.status == "stored", outcome.errors
    assert outcome.profile_id
    return outcome.profile_id


def _root_count(store: Store) -> int:
    with store.session() as s:
        return s.execute(select(func.count()).select_from(Profile).where(Profile.merged_into.is_(None))).scalar_one()


def _snapshot(store: Store, profile_id: str) -> dict:
    with store.session() as s:
        ids = sorted((i.kind, i.value) for i in reads.identities(s, store, profile_id))
        evs = sorted(e.id for e in reads.events(s, store, profile_id, first=1000))
        trs = {n: t.value for n, t in reads.traits(s, store, profile_id).items()}
    return {"identities": ids, "events": evs, "traits": trs}


def test_same_email_in_different_case_is_one_profile(store: Store) -> None:
    a = _one(store, event({"email": "Anna.Schmidt@Example.de"}))
    b = _one(store, event({"email": "  anna.schmidt@example.DE "}, source="support_desk"))
    assert a == b
    assert _root_count(store) == 1


def test_phone_national_and_international_format_is_one_profile(store: Store) -> None:
    a = _one(store, event({"phone": "030 12345678"}, country="DE"))
    b = _one(store, event({"phone": "+49 30 1234 5678"}, country="FR", source="amazon"))
    assert a == b
    with store.session() as s:
        [ident] = reads.identities(s, store, a)
    assert ident.value == "+493012345678"


def test_third_record_links_two_existing_profiles(store: Store) -> None:
    first = _one(store, event({"email": "kenji@example.jp"}, country="JP"))
    second = _one(store, event({"phone": "090-1234-5678"}, country="JP", source="amazon"))
    assert first != second
    [outcome] = ingest_all(store, order({"email": "kenji@example.jp", "phone": "+81 90 1234 5678"}, country="JP"))
    assert outcome.profile_id == first  # survivor is the oldest profile
    assert outcome.merged_profile_ids == [second]
    assert _root_count(store) == 1
    with store.session() as s:
        [record] = s.execute(select(MergeRecord)).scalars()
        assert (record.survivor_id, record.absorbed_id, record.event_id) == (first, second, outcome.event_id)
        assert record.identifier_kind == "phone"
        assert reads.find(s, store, "phone", "09012345678", "JP") == first


def test_uniqueness_conflict_keeps_profiles_apart_and_opens_review(store: Store) -> None:
    p1 = _one(store, event({"shopify_customer_id": "1001", "email": "maria@example.br"}, country="BR"))
    p2 = _one(store, event({"shopify_customer_id": "1002", "email": "joao@example.br"}, country="BR"))
    [outcome] = ingest_all(store, event({"email": "maria@example.br", "phone": "+55 11 91234-5678"}, country="BR"))
    assert outcome.profile_id == p1
    [linking] = ingest_all(store, event({"email": "joao@example.br", "phone": "+55 11 91234-5678"}, country="BR"))
    assert linking.status == "stored"
    assert linking.merged_profile_ids == []
    assert linking.review_item_id is not None
    assert any("shopify_customer_id" in w for w in linking.warnings)
    assert _root_count(store) == 2
    with store.session() as s:
        item = s.get(ReviewItem, linking.review_item_id)
        assert set(item.profile_ids.split(",")) == {p1, p2}
        assert "unique" in item.reason


def test_second_unique_identifier_on_a_matching_record_is_not_merged(store: Store) -> None:
    p1 = _one(store, event({"shopify_customer_id": "2001", "email": "shared@example.com"}))
    [outcome] = ingest_all(store, event({"shopify_customer_id": "2002", "email": "shared@example.com"}))
    assert outcome.status == "stored"
    assert outcome.profile_id != p1
    assert outcome.review_item_id is not None
    with store.session() as s:
        kinds = [i.kind for i in reads.identities(s, store, outcome.profile_id)]
    assert kinds == ["shopify_customer_id"]  # the shared email stays with its first owner


def test_blocked_values_never_link(store: Store) -> None:
    a = _one(store, event({"email": "test@test.com", "phone": "+49 30 1111 2222"}))
    b = _one(store, event({"email": "TEST@test.com", "phone": "+49 30 3333 4444"}))
    assert a != b
    [only_blocked] = ingest_all(store, event({"email": "test@test.com"}))
    assert only_blocked.status == "rejected"
    assert only_blocked.errors == [
        "identifiers.email: blocked placeholder value",
        "identifiers: no usable identifier left",
    ]
    [placeholder_phone] = ingest_all(store, event({"phone": "0000000", "email": "real@example.com"}))
    assert placeholder_phone.status == "stored"
    assert any("blocked" in w for w in placeholder_phone.warnings)


def test_unmerge_restores_both_profiles_exactly(store: Store) -> None:
    p1 = _one(store, order({"email": "lea@example.fr"}, country="FR", traits={"first_name": "Léa"}))
    p2 = _one(store, order({"phone": "06 12 34 56 78"}, country="FR", source="amazon", traits={"city": "Lyon"}))
    before1, before2 = _snapshot(store, p1), _snapshot(store, p2)
    [link] = ingest_all(store, event({"email": "lea@example.fr", "phone": "+33612345678"}, country="FR"))
    assert link.merged_profile_ids == [p2]
    with store.session() as s:
        group = load_group(s, p2)
        assert group.root.id == p1 and set(group.member_ids) == {p1, p2}
        assert set(reads.traits(s, store, group.member_ids[0])) == {"first_name", "city"}
        resolution.unmerge(s, AccessContext.operator("identity_resolution"), p2, reason="two customers")
        s.commit()
    after2 = _snapshot(store, p2)
    assert after2 == before2
    after1 = _snapshot(store, p1)
    assert after1["identities"] == before1["identities"] and after1["traits"] == before1["traits"]
    assert set(after1["events"]) == set(before1["events"]) | {link.event_id}  # the linking event stays
    assert _root_count(store) == 2
    with store.session() as s:
        assert s.execute(select(MergeRecord.unmerged_at)).scalar_one() is not None


def test_resent_events_are_stored_once(store: Store) -> None:
    raw = order({"email": "dup@example.com"}, source_event_id="order-1")
    first, again = ingest_all(store, raw, raw)
    assert (first.status, again.status) == ("stored", "duplicate")
    [later] = ingest_all(store, raw)
    assert later.status == "duplicate" and later.event_id == first.event_id
    with store.session() as s:
        assert len(reads.events(s, store, first.profile_id, first=10)) == 1


def test_concurrent_ingest_of_a_new_identifier_yields_one_profile(store: Store) -> None:
    """Two writers, real concurrent sessions, the same never-seen email: one profile."""
    barrier = threading.Barrier(4)
    results: list[str] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            results.append(_one(store, event({"email": "race@example.com"}, source_event_id=f"race-{n}")))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert _root_count(store) == 1


@pytest.mark.parametrize(
    ("identifiers", "message"),
    [
        ({"email": "not-an-email"}, "identifiers.email: not a valid address"),
        ({"phone": "12"}, "identifiers.phone: not a valid number"),
        ({"fax": "123"}, "unknown identifier kind"),
    ],
)
def test_invalid_identifiers_are_rejected_and_good_events_kept(store: Store, identifiers: dict, message: str) -> None:
    good = event({"email": "good@example.com"})
    bad = event(identifiers)
    outcomes = ingest_all(store, good, bad)
    assert outcomes[0].status == "stored"
    assert outcomes[1].status == "rejected"
    assert message in "; ".join(outcomes[1].errors)
    assert "not-an-email" not in "; ".join(outcomes[1].errors)  # errors never echo values


# --- atomic resolution: the record is decided whole before anything is linked -----------------------------


def _import(store: Store, tmp_path: Path, *raws: dict) -> ImportReport:
    path = tmp_path / "batch.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in raws))
    return import_file(store, path, access=OPERATOR)


def _roots_of(store: Store, *profile_ids: str) -> set[str]:
    with store.session() as s:
        return {load_group(s, p).root.id for p in profile_ids}


def test_a_record_that_cannot_join_every_match_merges_nothing_it_must_not(store: Store, tmp_path: Path) -> None:
    """Regression (issue 10): group A {email e}, group B {shopify 80001, phone p}; the record {shopify 80002,
    email e, phone p} used to merge A into B and then split itself off: A and B stayed merged while the outcome
    said nothing was merged. Now: B cannot take a second Shopify id, so A and B stay apart, the record joins
    A, and a review item asks about A and B."""
    a = _one(store, event({"email": "e.kowalski@example.pl"}, country="PL"))
    b = _one(store, event({"shopify_customer_id": "80001", "phone": "+48 601 234 567"}, country="PL"))
    report = _import(
        store,
        tmp_path,
        event({"shopify_customer_id": "80002", "email": "e.kowalski@example.pl", "phone": "+48601234567"}),
    )
    assert (report.stored, report.merges, report.review_items) == (1, 0, 1)
    assert _roots_of(store, a, b) == {a, b}
    with store.session() as s:
        [item] = s.execute(select(ReviewItem)).scalars()
        kinds = sorted(i.kind for i in reads.identities(s, store, a))
    assert item.profile_ids == ",".join(sorted([a, b])) and "shopify_customer_id" in item.reason
    assert kinds == ["email", "shopify_customer_id"]  # the record's new id went to the group it joined


def test_a_record_that_may_join_every_match_merges_them_and_says_so(store: Store, tmp_path: Path) -> None:
    a = _one(store, event({"email": "e.nowak@example.pl"}, country="PL"))
    b = _one(store, event({"shopify_customer_id": "80011", "phone": "+48 601 234 568"}, country="PL"))
    [outcome] = ingest_all(store, event({"email": "e.nowak@example.pl", "phone": "+48601234568"}, country="PL"))
    assert outcome.merged_profile_ids == [b] and outcome.profile_id == a
    report = _import(store, tmp_path, event({"email": "x.other@example.pl", "phone": "+48601234569"}, country="PL"))
    assert report.merges == 0
    c = _one(store, event({"email": "x.third@example.pl"}, country="PL"))
    report = _import(store, tmp_path, event({"email": "x.third@example.pl", "phone": "+48601234569"}, country="PL"))
    assert (report.merges, report.review_items) == (1, 0)
    assert len(_roots_of(store, a, b, c)) == 2


def test_unusable_identifiers_are_dropped_and_the_event_kept(store: Store) -> None:
    [outcome] = ingest_all(
        store,
        order({"email": "keep.me@example.de", "phone": "unknown", "amazon_buyer_id": "null"}, country="DE"),
    )
    assert outcome.status == "stored"
    assert outcome.warnings == [
        "identifiers.phone: cannot be parsed for country DE; ignored",
        "identifiers.amazon_buyer_id: blocked placeholder value; ignored",
    ]
    [no_country] = ingest_all(store, event({"email": "keep.me@example.de", "phone": "030 1234 5678"}, country=None))
    assert no_country.status == "stored" and no_country.profile_id == outcome.profile_id
    assert no_country.warnings == [
        "identifiers.phone: national number without a country (give the event's country or +<code>); ignored"
    ]


def test_relay_addresses_never_link_two_buyers(store: Store) -> None:
    relay = "k3j4h5@marketplace.amazon.de"
    a = _one(store, order({"amazon_buyer_id": "A1", "email": relay}, source="amazon"))
    b = _one(store, order({"amazon_buyer_id": "A2", "email": relay}, source="amazon"))
    assert a != b
    with store.session() as s:
        assert s.execute(select(func.count()).select_from(ReviewItem)).scalar_one() == 0


def test_a_value_shared_by_too_many_unrelated_records_stops_linking(store: Store) -> None:
    limit = identity_rules().max_unrelated_links
    shared = "family.shop@example.it"
    first = _one(store, event({"email": shared, "phone": "+39 312 000 0000"}, country="IT"))
    joined = [
        _one(store, event({"email": shared, "shopify_customer_id": f"77{n:03d}"}, country="IT")) for n in range(3)
    ]
    assert joined[0] == first  # one Shopify id may join; the next ones conflict and stay apart
    for n in range(limit + 2):
        ingest_all(store, event({"email": shared, "device_id": f"dev-{n}", "external_id": f"crm-{n}"}, country="IT"))
    [late] = ingest_all(store, event({"email": shared, "external_id": "crm-late"}, country="IT"))
    assert late.profile_id != first
    assert any("shared by more than" in w for w in late.warnings)


# --- keep-apart decisions ---------------------------------------------------------------------------------


def test_unmerge_keeps_the_parts_apart_against_bridging_events(store: Store) -> None:
    a = _one(store, event({"email": "ines@example.pt"}, country="PT"))
    b = _one(store, event({"phone": "+351 912 345 678"}, country="PT"))
    [link] = ingest_all(store, event({"email": "ines@example.pt", "phone": "+351912345678"}, country="PT"))
    assert link.merged_profile_ids == [b]
    with store.session() as s:
        resolution.unmerge(s, AccessContext.operator("identity_resolution"), b, reason="two customers")
        s.commit()
    [bridge] = ingest_all(store, event({"email": "ines@example.pt", "phone": "+351912345678"}, country="PT"))
    assert bridge.merged_profile_ids == [] and bridge.review_item_id is not None
    assert "kept apart by a person's decision" in " ".join(bridge.warnings)
    [again] = ingest_all(store, event({"email": "ines@example.pt", "phone": "+351912345678"}, country="PT"))
    assert again.merged_profile_ids == [] and again.review_item_id is None  # not asked twice
    assert _roots_of(store, a, b) == {a, b}
