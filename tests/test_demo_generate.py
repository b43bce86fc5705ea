"""The demo generator: deterministic, varied, valid, and its ground truth is complete."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import pytest

from cdp.demo import DemoDataset, generate_demo, generate_demo_events
from cdp.demo.generate import FIRST_DAY, LAST_DAY, SOURCES

REQUIRED_KEYS = {"source", "source_event_id", "type", "occurred_at", "country", "identifiers", "traits", "properties"}
PROPERTY_KEYS = {
    "order": {"order_id", "total", "currency", "items"},
    "cart": {"cart_id", "total", "currency", "items"},
    "page_view": {"url", "referrer"},
    "ticket": {"ticket_id", "subject", "body"},
    "review": {"product_sku", "rating", "text"},
    "subscribe": {"list"},
    "identify": set(),
}
EMAIL = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")  # ASCII: \w would swallow adjacent kana


@pytest.fixture(scope="module")
def demo() -> DemoDataset:
    return generate_demo()


def _events_by_person(demo: DemoDataset) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in demo.events:
        grouped[demo.owner[(event["source"], event["source_event_id"])]].append(event)
    return grouped


def _normalized(kind: str, value: str, country: str) -> tuple[str, str]:
    """The resolver's normalization, written independently of the generator."""
    if kind == "email":
        return kind, value.strip().lower()
    if kind == "phone":
        return kind, phonenumbers.format_number(phonenumbers.parse(value, country), phonenumbers.PhoneNumberFormat.E164)
    return kind, value


def _groups(events: list[dict[str, Any]], normalize: bool) -> int:
    """Connected groups of events that share an identifier."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(key: tuple[str, str]) -> tuple[str, str]:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for event in events:
        keys = [_normalized(k, v, event["country"]) if normalize else (k, v) for k, v in event["identifiers"].items()]
        for key in keys:
            parent[find(key)] = find(keys[0])
    return len({find(key) for key in parent})


def test_same_seed_same_data_other_seed_other_data(demo: DemoDataset) -> None:
    again = generate_demo(seed=7, people=2000)
    assert again.events == demo.events
    assert again.people == demo.people
    other = generate_demo(seed=8, people=2000)
    assert other.events != demo.events
    # Person i never depends on how many people follow: a smaller run is a prefix of a bigger one.
    assert generate_demo(seed=7, people=300).people == demo.people[:300]


def test_size_and_spread(demo: DemoDataset) -> None:
    assert len(demo.people) == 2000
    assert 10_000 <= len(demo.events) <= 16_000
    countries = Counter(p.country for p in demo.people)
    assert len(countries) >= 6 and min(countries.values()) >= 100
    orders = [e for e in demo.events if e["type"] == "order"]
    assert {e["properties"]["currency"] for e in orders} >= {"USD", "EUR", "GBP", "BRL", "CNY", "JPY"}
    assert {e["type"] for e in demo.events} == set(PROPERTY_KEYS)
    assert {e["source"] for e in demo.events} == set(SOURCES)
    assert len({p.timezone for p in demo.people}) >= 10
    # Names vary: collisions happen but are rare.
    named = [p for p in demo.people if p.names]
    assert len(named) >= 0.9 * len(demo.people)
    assert len({max(p.names, key=len) for p in named}) >= 0.8 * len(named)


def test_california_is_well_represented(demo: DemoDataset) -> None:
    regions = {e["traits"]["region"] for e in demo.events if e["country"] == "US" and "region" in e["traits"]}
    assert "CA" in regions
    californians = sum(p.timezone == "America/Los_Angeles" for p in demo.people if p.country == "US")
    assert californians >= 0.3 * sum(p.country == "US" for p in demo.people)


def test_every_phone_is_valid_for_its_country(demo: DemoDataset) -> None:
    for person in demo.people:
        e164 = set()
        for phone in person.phones:
            number = phonenumbers.parse(phone, person.country)
            assert phonenumbers.is_valid_number(number), (person.index, phone)
            assert phonenumbers.region_code_for_number(number) == person.country, (person.index, phone)
            e164.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        assert len(e164) <= 1, person  # one phone per person, in several formats
    for event in demo.events:
        if "phone" in event["identifiers"]:
            assert phonenumbers.is_valid_number(phonenumbers.parse(event["identifiers"]["phone"], event["country"]))


def test_names_and_addresses_in_their_own_scripts(demo: DemoDataset) -> None:
    names = {n for p in demo.people for n in p.names}
    addresses = {a for p in demo.people for a in p.addresses}
    assert any(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", n) for n in names)  # e.g. 王伟
    assert any(re.fullmatch(r"[\u4e00-\u9fff]+ [\u3040-\u30ff\u4e00-\u9fff]+", n) for n in names)  # 佐藤 花子
    for letters in ("äöüß", "éèêëçï", "ñáíóú", "ãõâêç"):
        assert any(set(n) & set(letters) for n in names), letters
    assert any(a.startswith("Rua ") for a in addresses)
    assert any(re.search(r"区.+路\d+号", a) for a in addresses)
    assert any(re.search(r"[\u4e00-\u9fff]+\d+-\d+-\d+", a) for a in addresses)
    assert any(p.country == "ES" and len(max(p.names, key=len).split()) >= 3 for p in demo.people)


def test_each_person_uses_two_to_four_channels(demo: DemoDataset) -> None:
    by_person = _events_by_person(demo)
    for person in demo.people:
        sources = {e["source"] for e in by_person[person.index]}
        assert sources == set(person.channels)
        assert 2 <= len(sources) <= 4


def test_events_are_well_formed(demo: DemoDataset) -> None:
    people = {p.index: p for p in demo.people}
    previous = None
    for event in demo.events:
        person = people[demo.owner[(event["source"], event["source_event_id"])]]
        assert set(event) == REQUIRED_KEYS
        assert event["identifiers"] and all(isinstance(v, str) and v.strip() for v in event["identifiers"].values())
        assert set(event["properties"]) == PROPERTY_KEYS[event["type"]], event
        at = datetime.fromisoformat(event["occurred_at"])
        # The offset is the customer's zone's offset at that local time (DST included).
        assert at.utcoffset() == at.replace(tzinfo=ZoneInfo(person.timezone)).utcoffset(), event
        assert FIRST_DAY <= at.date() <= LAST_DAY
        assert previous is None or previous <= at  # sorted as instants
        previous = at
        assert event["country"] == person.country
        props = event["properties"]
        if event["type"] in ("order", "cart"):
            assert props["currency"] == person.currency
            total = sum(Decimal(i["price"]) * i["quantity"] for i in props["items"])
            assert Decimal(props["total"]) == total
            decimals = 0 if person.currency == "JPY" else 2
            assert all(
                len(v.partition(".")[2]) == decimals for v in [props["total"], *(i["price"] for i in props["items"])]
            )
        if event["type"] == "review":
            assert 1 <= props["rating"] <= 5


def test_identifiers_overlap_only_after_normalization(demo: DemoDataset) -> None:
    by_person = _events_by_person(demo)
    holders: dict[tuple[str, str], set[int]] = defaultdict(set)
    needs_normalization = 0
    for person in demo.people:
        events = by_person[person.index]
        groups = _groups(events, normalize=True)
        assert groups == person.expected_profiles, person
        if person.linked:
            assert groups == 1, person
        else:
            assert groups >= 2, person
        needs_normalization += _groups(events, normalize=False) > groups
        for event in events:
            for kind, value in event["identifiers"].items():
                holders[_normalized(kind, value, event["country"])].add(person.index)
    assert all(len(owners) == 1 for owners in holders.values()), "two people share an identifier"
    unlinked = sum(not p.linked for p in demo.people)
    assert 0.05 * len(demo.people) <= unlinked <= 0.15 * len(demo.people)
    # Linking takes normalization (case, spaces, phone formats) for a good share of people.
    assert needs_normalization >= 0.2 * len(demo.people)
    amazon_phones = [
        e["identifiers"]["phone"] for e in demo.events if e["source"] == "amazon" and "phone" in e["identifiers"]
    ]
    assert amazon_phones and not any(p.startswith("+") for p in amazon_phones)


def test_ground_truth_lists_every_personal_value(demo: DemoDataset) -> None:
    people = {p.index: p for p in demo.people}
    for event in demo.events:
        person = people[demo.owner[(event["source"], event["source_event_id"])]]
        for kind, value in event["identifiers"].items():
            listed = {"email": person.emails, "phone": person.phones}.get(kind, person.platform_ids)
            assert value.strip() in listed, (kind, value, person)
        truth = {
            "first_name": person.names,
            "last_name": person.names,
            "full_name": person.names,
            "address_line1": person.addresses,
            "city": person.cities,
            "postal_code": person.postal_codes,
            "birthday": (person.birthday,),
        }
        for key, value in event["traits"].items():
            assert value in truth.get(key, (value,)), (key, value, person)
        if event["type"] == "ticket":
            text = event["properties"]["subject"] + "\n" + event["properties"]["body"]
            for email in EMAIL.findall(text):
                assert email in person.emails, (email, person)
            for match in phonenumbers.PhoneNumberMatcher(text, event["country"]):
                assert match.raw_string in person.phones, (match.raw_string, person)
    # Normalized forms are listed too, so a scan also catches a value stored after normalization.
    for person in demo.people:
        assert {e.lower() for e in person.emails} <= set(person.emails)
    assert all(len(v.encode()) >= 6 for p in demo.people for v in p.personal_values(min_bytes=6))


def test_some_events_are_exact_resends(demo: DemoDataset) -> None:
    first: dict[tuple[str, str], dict[str, Any]] = {}
    resends = 0
    for event in demo.events:
        key = (event["source"], event["source_event_id"])
        if key in first:
            resends += 1
            assert event == first[key]
        first[key] = event
    assert 0.005 * len(demo.events) <= resends <= 0.02 * len(demo.events)


def test_benchmark_size_extends_the_default_demo(demo: DemoDataset) -> None:
    big = generate_demo_events(20_000)
    assert len(big.events) >= 20_000
    assert big.people[: len(demo.people)] == demo.people


def test_events_pass_the_ingestion_schema(demo: DemoDataset) -> None:
    from cdp.events.schema import parse_event

    for event in demo.events:
        parse_event(event)
