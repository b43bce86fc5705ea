"""Deterministic demo data: customers of a cross-border shop seen through five channels, with ground truth.

`generate_demo(seed, people)` returns events in the ingestion format (sorted by `occurred_at`) and, per
person, every personal value any of their events carries, so tests can check identity resolution and scan
the database for leaked plaintext. One `random.Random(seed)` drives everything and the dates are fixed
(2025-12-01 .. 2026-11-20), so a seed always yields the same data; person i does not depend on how many
people follow, so a bigger run extends a smaller one.

How the channels link (this is what identity resolution has to work out):
- shopify: email (sometimes capitalised) + phone in E.164 + shopify_customer_id;
- amazon: amazon_buyer_id, plus the phone in NATIONAL format: it links to Shopify or the desk only via phone;
- support_desk: the email in another case or with surrounding spaces, sometimes the phone in international
  format; ticket bodies may mention the phone, email, address or an order id;
- newsletter: the email only;
- web: anonymous_id + device_id on page views (a device can have several anonymous sessions); a later login
  event adds the email.
About 10% of people are "unlinked": each of their channels uses identifiers of its own (other e-mail
addresses, no phone on Amazon, no web login), so they correctly stay several profiles
(`DemoPerson.expected_profiles`). About 1% of events are sent twice, byte for byte (same source id).
Identifiers never collide between people. Phones are random numbers in real mobile ranges (valid for
`phonenumbers`); e-mail domains are the RFC 2606 reserved example.com/.net/.org.

`python -m cdp.demo --out demo.jsonl` writes the events as JSONL and prints `DemoDataset.summary()`.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cdp.demo.locales import (
    DEMO_RATES,
    EMAIL_DOMAINS,
    LOCALES,
    PRODUCTS,
    REFERRERS,
    REVIEWS,
    SHOP_URL,
    TICKETS,
    City,
    Locale,
    Product,
)

FIRST_DAY = date(2025, 12, 1)
LAST_DAY = date(2026, 11, 20)
_LAST_INDEX = (LAST_DAY - FIRST_DAY).days

SOURCES = ("shopify", "amazon", "support_desk", "newsletter", "web")
_CHANNEL_WEIGHTS = (70, 45, 30, 40, 50)  # how often each source is among a person's channels, relative
UNLINKED_SHARE = 0.10
RESEND_SHARE = 0.01

_CALLING_CODES = {"US": "1", "GB": "44", "DE": "49", "FR": "33", "ES": "34", "BR": "55", "CN": "86", "JP": "81"}
_LOCALE_CUM_WEIGHTS = list(accumulate(locale.weight for locale in LOCALES))
_CITY_CUM_WEIGHTS = {loc.country: list(accumulate(c.weight for c in loc.cities)) for loc in LOCALES}
_US_EXCHANGES = tuple(n for n in range(200, 1000) if n % 100 != 11)  # N11 codes are service numbers
_ZONES: dict[str, ZoneInfo] = {}


def _zone(name: str) -> ZoneInfo:
    return _ZONES.setdefault(name, ZoneInfo(name))


def _unit_price(product: Product, currency: str) -> Decimal:
    amount = product.usd * DEMO_RATES[currency]
    if currency == "JPY":  # yen has no minor unit; shops price in tens of yen
        return Decimal(int(round(amount, -1)))
    return Decimal(int(amount)) + Decimal("0.99")


_PRICES = {cur: {p.sku: _unit_price(p, cur) for p in PRODUCTS} for cur in DEMO_RATES}


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:.0f}" if currency == "JPY" else f"{amount:.2f}"


@dataclass(frozen=True)
class _Phone:
    country: str
    nsn: str  # national significant number

    @property
    def e164(self) -> str:
        return f"+{_CALLING_CODES[self.country]}{self.nsn}"

    @property
    def national(self) -> str:
        """As a customer writes it at home (and as Amazon reports it)."""
        n, c = self.nsn, self.country
        if c == "US":
            return f"({n[:3]}) {n[3:6]}-{n[6:]}"
        if c == "GB":
            return f"0{n[:4]} {n[4:]}"
        if c == "FR":
            return " ".join(["0" + n[0]] + [n[i : i + 2] for i in range(1, 9, 2)])
        if c == "DE":
            return f"0{n[:3]} {n[3:]}"
        if c == "ES":
            return f"{n[:3]} {n[3:5]} {n[5:7]} {n[7:]}"
        if c == "BR":
            return f"({n[:2]}) {n[2:7]}-{n[7:]}"
        if c == "CN":
            return f"{n[:3]} {n[3:7]} {n[7:]}"
        return f"0{n[:2]}-{n[2:6]}-{n[6:]}"  # JP

    @property
    def international(self) -> str:
        """Spaced international form, as a support agent types it."""
        n = self.nsn
        local = {
            "US": f"{n[:3]}-{n[3:6]}-{n[6:]}",
            "BR": f"{n[:2]} {n[2:7]}-{n[7:]}",
            "JP": f"{n[:2]}-{n[2:6]}-{n[6:]}",
        }.get(self.country, self.national.removeprefix("0"))
        return f"+{_CALLING_CODES[self.country]} {local}"


@dataclass(frozen=True)
class DemoPerson:
    """Ground truth for one customer: every personal value any of their events carries.

    `emails` and `phones` hold each form as emitted (surrounding whitespace removed) plus the normalized
    form (lower-cased email, E.164 phone). Ticket bodies only mention values listed here.
    """

    index: int
    country: str
    language: str
    timezone: str
    currency: str
    channels: tuple[str, ...]
    linked: bool  # False: the channels deliberately share no identifier
    expected_profiles: int  # identifier-connected groups among this person's events (1 when linked)
    names: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    addresses: tuple[str, ...]  # address_line1 values
    cities: tuple[str, ...]
    postal_codes: tuple[str, ...]
    birthday: str | None
    platform_ids: tuple[str, ...]  # shopify_customer_id, amazon_buyer_id, device_id and anonymous_id values

    def personal_values(self, min_bytes: int = 1) -> tuple[str, ...]:
        """All personal values; raise `min_bytes` (e.g. 6) to skip ones short enough to occur by chance in
        ciphertext when scanning a raw database file (a one-character Chinese given name is 3 bytes)."""
        values = (
            *self.names,
            *self.emails,
            *self.phones,
            *self.addresses,
            *self.cities,
            *self.postal_codes,
            *([self.birthday] if self.birthday else []),
            *self.platform_ids,
        )
        return tuple(v for v in values if len(v.encode()) >= min_bytes)


@dataclass(frozen=True)
class DemoDataset:
    seed: int
    events: list[dict[str, Any]]  # sorted by occurred_at (as instants), re-sends next to their original
    people: list[DemoPerson]
    owner: dict[tuple[str, str], int]  # (source, source_event_id) -> DemoPerson.index

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts for reports and the benchmark: people per country, events per type/source, orders per
        currency, and how many events are re-sends."""
        seen: set[tuple[str, str]] = set()
        resends = 0
        for e in self.events:
            key = (e["source"], e["source_event_id"])
            resends += key in seen
            seen.add(key)
        return {
            "totals": {
                "people": len(self.people),
                "events": len(self.events),
                "resends": resends,
                "unlinked_people": sum(not p.linked for p in self.people),
            },
            "people_per_country": dict(Counter(p.country for p in self.people).most_common()),
            "events_per_type": dict(Counter(e["type"] for e in self.events).most_common()),
            "events_per_source": dict(Counter(e["source"] for e in self.events).most_common()),
            "orders_per_currency": dict(
                Counter(e["properties"]["currency"] for e in self.events if e["type"] == "order").most_common()
            ),
        }


@dataclass
class _Draft:
    """A person while their events are being made; `_emit` records every personal value it sends."""

    index: int
    locale: Locale
    city: City
    tz: ZoneInfo
    first: tuple[str, str]
    last: tuple[str, str]
    full_name: str
    email: str
    phone: _Phone
    address: str
    postcode: str
    birthday: str
    shopify_id: str
    amazon_id: str
    device_id: str
    linked: bool
    channels: tuple[str, ...]
    start: datetime
    events: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    orders: list[tuple[datetime, str, str, list[dict[str, Any]]]] = field(default_factory=list)  # at, source, id, items
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    cities: set[str] = field(default_factory=set)
    postcodes: set[str] = field(default_factory=set)
    platform_ids: set[str] = field(default_factory=set)
    birthday_sent: bool = False


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used: set[str] = set()  # every identifier handed out, so no two people share one
        self.counters: Counter[str] = Counter()

    # --- small helpers -------------------------------------------------------------------------------

    def _serial(self, name: str, start: int) -> int:
        self.counters[name] += 1
        return start + self.counters[name]

    def _unique(self, make: Callable[[], str]) -> str:
        while (value := make()) in self.used:
            pass
        self.used.add(value)
        return value

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _local(self, tz: ZoneInfo, day: int) -> datetime:
        # Hours 7-20 keep clear of DST gaps (01-03h) and leave room for the minute steps after a login.
        at = time(self.rng.randint(7, 20), self.rng.randint(0, 59), self.rng.randint(0, 59))
        return datetime.combine(FIRST_DAY + timedelta(days=min(day, _LAST_INDEX)), at, tzinfo=tz)

    def _later(self, d: _Draft, after: datetime, lo: int, hi: int) -> datetime:
        """A moment lo..hi days after `after` (clamped to the last demo day), strictly later than it."""
        candidate = self._local(d.tz, (after.date() - FIRST_DAY).days + self.rng.randint(lo, hi))
        return candidate if candidate > after else after + timedelta(seconds=self.rng.randint(30, 300))

    def _emit(
        self,
        d: _Draft,
        source: str,
        kind: str,
        at: datetime,
        identifiers: dict[str, str],
        traits: dict[str, str] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        traits = traits or {}
        for key, value in identifiers.items():
            {"email": d.emails, "phone": d.phones}.get(key, d.platform_ids).add(value.strip())
        for key in ("first_name", "last_name", "full_name"):
            if key in traits:
                d.names.add(traits[key])
        if "address_line1" in traits:
            d.addresses.add(traits["address_line1"])
            d.cities.add(traits["city"])
            d.postcodes.add(traits["postal_code"])
        d.birthday_sent |= "birthday" in traits
        number = self._serial(source, 100000)
        event = {
            "source": source,
            "source_event_id": f"{source}-{kind}-{number}",
            "type": kind,
            "occurred_at": at.isoformat(),
            "country": d.locale.country,
            "identifiers": identifiers,
            "traits": traits,
            "properties": properties if properties is not None else {},
        }
        d.events.append((at, event))
        return event

    def _address_traits(self, d: _Draft, line1: str | None = None) -> dict[str, str]:
        return {
            "address_line1": line1 or d.address,
            "city": d.city.name,
            "region": d.city.region,
            "postal_code": d.postcode,
            "country": d.locale.country,
        }

    def _items(self, d: _Draft) -> tuple[list[dict[str, Any]], str]:
        currency, lang = d.locale.currency, d.locale.language
        items, total = [], Decimal(0)
        for product in self.rng.sample(PRODUCTS, self.rng.choice((1, 1, 1, 2, 2, 3))):
            quantity = self.rng.choice((1, 1, 1, 1, 2, 3))
            price = _PRICES[currency][product.sku]
            total += price * quantity
            items.append(
                {
                    "sku": product.sku,
                    "name": product.names[lang],
                    "quantity": quantity,
                    "price": _money(price, currency),
                }
            )
        return items, _money(total, currency)

    # --- the person --------------------------------------------------------------------------------------

    def _email(self, first: str, last: str, year: int) -> str:
        rng = self.rng
        local = rng.choice(
            (f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}", f"{last}.{first}", f"{first}_{last}")
        )
        suffixes = ("", str(year), f"{rng.randint(1, 99):02d}")

        def make() -> str:
            return f"{local}{rng.choice(suffixes)}@{rng.choice(EMAIL_DOMAINS)}"

        # After a collision fall back to a random number, which always frees up quickly.
        email = make()
        if email in self.used:
            email = self._unique(lambda: f"{local}{rng.randint(100, 9999)}@{rng.choice(EMAIL_DOMAINS)}")
        self.used.add(email)
        return email

    def _phone(self, locale: Locale, city: City) -> _Phone:
        rng = self.rng

        def make() -> str:
            if locale.country == "US":  # area code of the city, exchange 200-999 but never N11
                exchange = rng.choice(_US_EXCHANGES)
                return f"{rng.choice(city.local)}{exchange}{rng.randint(0, 9999):04d}"
            area = city.local[0] if locale.country == "BR" else ""
            digits = locale.mobile_digits
            return f"{area}{rng.choice(locale.mobile_prefixes)}{rng.randint(10 ** (digits - 1), 10**digits - 1)}"

        return _Phone(locale.country, self._unique(make))

    def _street_address(self, locale: Locale, city: City) -> str:
        rng, c, street = self.rng, locale.country, self.rng.choice(locale.streets)
        if c == "US":
            apt = f", Apt {rng.randint(1, 40)}{rng.choice('ABCD')}" if rng.random() < 0.25 else ""
            return f"{rng.randint(1, 9999)} {street}{apt}"
        if c == "GB":
            flat = f"Flat {rng.randint(1, 30)}, " if rng.random() < 0.15 else ""
            return f"{flat}{rng.randint(1, 250)} {street}"
        if c == "DE":
            return f"{street} {rng.randint(1, 150)}{'a' if rng.random() < 0.1 else ''}"
        if c == "FR":
            return f"{rng.randint(1, 120)}{' bis' if rng.random() < 0.05 else ''} {street}"
        if c == "ES":
            floor = f", {rng.randint(1, 9)}º {rng.choice('ABCD')}" if rng.random() < 0.5 else ""
            return f"{street}, {rng.randint(1, 200)}{floor}"
        if c == "BR":
            apto = f", apto {rng.randint(11, 150)}" if rng.random() < 0.4 else ""
            return f"{street}, {rng.randint(1, 3000)}{apto}"
        if c == "CN":
            room = f"{rng.randint(1, 12)}栋{rng.randint(1, 30)}0{rng.randint(1, 6)}室" if rng.random() < 0.6 else ""
            return f"{rng.choice(city.local)}{street}{rng.randint(1, 300)}号{room}"
        # JP: 町名 + 丁目-番-号, sometimes a building and room; locale.streets holds building names there
        building = f" {street}{rng.randint(1, 9)}0{rng.randint(1, 9)}" if rng.random() < 0.5 else ""
        return f"{rng.choice(city.local)}{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}{building}"

    def _full_name(self, locale: Locale, first: str, last: str) -> str:
        if locale.country == "CN":
            return f"{last}{first}"
        if locale.country == "JP":
            return f"{last} {first}"
        return f"{first} {last}"

    def _channels(self, linked: bool) -> tuple[str, ...]:
        rng = self.rng
        while True:
            pool, weights, picked = list(SOURCES), list(_CHANNEL_WEIGHTS), set()
            for _ in range(rng.choices((2, 3, 4), (50, 35, 15))[0]):
                i = rng.choices(range(len(pool)), weights)[0]
                picked.add(pool.pop(i))
                weights.pop(i)
            # Amazon only shares the phone, which only Shopify and the desk also carry.
            if not linked or "amazon" not in picked or picked & {"shopify", "support_desk"}:
                return tuple(s for s in SOURCES if s in picked)

    def person(self, index: int) -> tuple[DemoPerson, list[tuple[datetime, dict[str, Any]]]]:
        rng = self.rng
        locale = LOCALES[rng.choices(range(len(LOCALES)), cum_weights=_LOCALE_CUM_WEIGHTS)[0]]
        cum_weights = _CITY_CUM_WEIGHTS[locale.country]
        city = locale.cities[rng.choices(range(len(locale.cities)), cum_weights=cum_weights)[0]]
        first, last = rng.choice(locale.first_names), rng.choice(locale.last_names)
        if locale.country == "ES" or (locale.country == "BR" and rng.random() < 0.4):
            second = rng.choice(locale.last_names)  # Spanish (and many Brazilian) names carry two surnames
            if second != last:
                last = (f"{last[0]} {second[0]}", last[1])
        year = rng.randint(1950, 2006)
        linked = rng.random() >= UNLINKED_SHARE
        tz = _zone(city.timezone)
        d = _Draft(
            index=index,
            locale=locale,
            city=city,
            tz=tz,
            first=first,
            last=last,
            full_name=self._full_name(locale, first[0], last[0]),
            email=self._email(first[1], last[1], year),
            phone=self._phone(locale, city),
            address=self._street_address(locale, city),
            postcode=rng.choice(city.postcodes),
            birthday=date(year, rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
            shopify_id=str(self._serial("shopify_customer", 7_400_000_000_000)),
            amazon_id=self._unique(lambda: "A" + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=13))),
            device_id=self._uuid(),
            linked=linked,
            channels=self._channels(linked),
            start=self._local(tz, rng.randint(0, 300)),
        )
        shop, amazon = "shopify" in d.channels, "amazon" in d.channels
        both = shop and amazon
        shop_orders = rng.choices((1, 2, 3, 4), (40, 30, 20, 10))[0] if shop else 0
        amazon_orders = (rng.randint(1, 2) if both else rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0]) if amazon else 0
        if shop:
            self._shopify(d, shop_orders, phone=amazon or rng.random() < 0.8)
        if amazon:
            self._amazon(d, amazon_orders)
        if "support_desk" in d.channels:
            self._support(d, phone_id=linked and amazon and not shop)
        if "newsletter" in d.channels:
            self._newsletter(d)
        if "web" in d.channels:
            self._web(d)
        events = list(d.events)
        for at, event in d.events:
            if rng.random() < RESEND_SHARE:
                events.append((at, copy.deepcopy(event)))
        return self._truth(d), events

    def _truth(self, d: _Draft) -> DemoPerson:
        emails = d.emails | {e.lower() for e in d.emails}
        phones = d.phones | ({d.phone.e164} if d.phones else set())
        return DemoPerson(
            index=d.index,
            country=d.locale.country,
            language=d.locale.language,
            timezone=d.city.timezone,
            currency=d.locale.currency,
            channels=d.channels,
            linked=d.linked,
            expected_profiles=_count_groups(d),
            names=tuple(sorted(d.names)),
            emails=tuple(sorted(emails)),
            phones=tuple(sorted(phones)),
            addresses=tuple(sorted(d.addresses)),
            cities=tuple(sorted(d.cities)),
            postal_codes=tuple(sorted(d.postcodes)),
            birthday=d.birthday if d.birthday_sent else None,
            platform_ids=tuple(sorted(d.platform_ids)),
        )

    # --- channels --------------------------------------------------------------------------------------

    def _shopify(self, d: _Draft, orders: int, phone: bool) -> None:
        rng = self.rng
        # Customers type their email as they like; Shopify keeps what they typed.
        email = _capitalised(d.email) if rng.random() < 0.2 else d.email
        ids = {"email": email, "shopify_customer_id": d.shopify_id}
        if phone:
            ids["phone"] = d.phone.e164
        names = {"first_name": d.first[0], "last_name": d.last[0]}
        profile = {**names, **self._address_traits(d), "language": d.locale.language, "timezone": d.city.timezone}
        if rng.random() < 0.6:
            profile["birthday"] = d.birthday
        at = created = self._later(d, d.start, 0, 10)
        self._emit(d, "shopify", "identify", at, dict(ids), profile)
        for _ in range(orders):
            at = self._later(d, at, 1, 60)
            items, total = self._items(d)
            order_id = str(self._serial("shopify_order", 1_000_000))
            self._emit(
                d,
                "shopify",
                "order",
                at,
                dict(ids),
                {**names, **self._address_traits(d)},
                {"order_id": order_id, "total": total, "currency": d.locale.currency, "items": items},
            )
            d.orders.append((at, "shopify", order_id, items))
        for _ in range(rng.choices((0, 1, 2), (50, 35, 15))[0]):  # abandoned checkouts
            items, total = self._items(d)
            self._emit(
                d,
                "shopify",
                "cart",
                self._later(d, created, 0, 120),
                {"email": email, "shopify_customer_id": d.shopify_id},
                properties={
                    "cart_id": f"{rng.getrandbits(64):016x}",
                    "total": total,
                    "currency": d.locale.currency,
                    "items": items,
                },
            )
        if rng.random() < 0.3:
            self._review(d, "shopify", {"email": email, "shopify_customer_id": d.shopify_id})

    def _amazon(self, d: _Draft, orders: int) -> None:
        rng = self.rng
        ids = {"amazon_buyer_id": d.amazon_id}
        if d.linked:  # Amazon's shipping address carries the phone as the buyer typed it: national format
            ids["phone"] = d.phone.national
        # Some buyers ship Amazon parcels to a second address (work, parents).
        other = self._street_address(d.locale, d.city) if rng.random() < 0.15 else None
        at = d.start
        for _ in range(orders):
            at = self._later(d, at, 0, 70)
            items, total = self._items(d)
            order_id = self._unique(
                lambda: f"{rng.randint(111, 999)}-{rng.randint(0, 9999999):07d}-{rng.randint(0, 9999999):07d}"
            )
            line1 = other if other and rng.random() < 0.5 else d.address
            self._emit(
                d,
                "amazon",
                "order",
                at,
                dict(ids),
                {"full_name": d.full_name, **self._address_traits(d, line1)},
                {"order_id": order_id, "total": total, "currency": d.locale.currency, "items": items},
            )
            d.orders.append((at, "amazon", order_id, items))
        if rng.random() < 0.3:
            self._review(d, "amazon", {"amazon_buyer_id": d.amazon_id})

    def _review(self, d: _Draft, source: str, ids: dict[str, str]) -> None:
        rng = self.rng
        at, _, _, items = rng.choice([o for o in d.orders if o[1] == source])
        rating = rng.choices((1, 2, 3, 4, 5), (8, 6, 12, 26, 48))[0]
        self._emit(
            d,
            source,
            "review",
            self._later(d, at, 3, 20),
            ids,
            properties={
                "product_sku": rng.choice(items)["sku"],
                "rating": rating,
                "text": rng.choice(REVIEWS[d.locale.language][rating - 1]),
            },
        )

    def _support(self, d: _Draft, phone_id: bool) -> None:
        """Tickets; `phone_id` puts the phone among the identifiers (needed when only it links Amazon)."""
        rng = self.rng
        email = d.email if d.linked else self._email(d.first[1], d.last[1], rng.randint(1950, 2006))
        for n in range(rng.choices((1, 2), (75, 25))[0]):
            # Agents paste addresses as they come: other case, stray spaces.
            shown = rng.choice((email.upper(), _capitalised(email), f"  {email} ", f" {_capitalised(email)}\t"))
            ids = {"email": shown}
            if (phone_id and n == 0) or (d.linked and rng.random() < 0.25):
                ids["phone"] = d.phone.international
            order = rng.choice(d.orders) if d.orders and rng.random() < 0.8 else None
            at = self._later(d, order[0] if order else d.start, 1, 14)
            fill = {
                "phone": d.phone.national,
                "email": email,
                "address": _postal_address(d),
                "first_name": d.first[0],
                "full_name": d.full_name,
            }
            if order:
                fill["order_id"] = f"#{order[2]}" if order[1] == "shopify" else order[2]
            subject, body = rng.choice(
                [t for t in TICKETS[d.locale.language] if order or "{order_id}" not in t[0] + t[1]]
            )
            if "{phone}" in body:
                d.phones.add(d.phone.national)
            if "{email}" in body:
                d.emails.add(email)
            if "{address}" in body:
                d.addresses.add(d.address)
            if "{first_name}" in body or "{full_name}" in body:
                d.names.update((d.first[0], d.full_name))
            self._emit(
                d,
                "support_desk",
                "ticket",
                at,
                ids,
                {"full_name": d.full_name, "language": d.locale.language},
                {
                    "ticket_id": str(self._serial("ticket", 40000)),
                    "subject": subject.format(**fill),
                    "body": body.format(**fill),
                },
            )

    def _newsletter(self, d: _Draft) -> None:
        email = d.email if d.linked else self._email(d.first[1], d.last[1], self.rng.randint(1950, 2006))
        traits = {"language": d.locale.language}
        if self.rng.random() < 0.5:
            traits["first_name"] = d.first[0]
        self._emit(
            d,
            "newsletter",
            "subscribe",
            self._later(d, d.start, 0, 60),
            {"email": email},
            traits,
            {"list": "newsletter"},
        )

    def _web(self, d: _Draft) -> None:
        rng, lang = self.rng, d.locale.language
        at = d.start
        anonymous_id = ""
        for _ in range(rng.choices((1, 2), (70, 30))[0]):  # sessions on one device; each new anonymous_id
            anonymous_id = self._unique(self._uuid)
            at = self._later(d, at, 0, 30)
            referrer = rng.choice(REFERRERS)
            for _ in range(rng.choices((1, 2, 3), (45, 35, 20))[0]):
                sku = rng.choice(PRODUCTS).sku.lower()
                url = f"{SHOP_URL}/{lang}/products/{sku}"
                self._emit(
                    d,
                    "web",
                    "page_view",
                    at,
                    {"anonymous_id": anonymous_id, "device_id": d.device_id},
                    properties={"url": url, "referrer": referrer},
                )
                at += timedelta(seconds=rng.randint(20, 300))
                referrer = url
        if rng.random() < 0.25:
            items, total = self._items(d)
            self._emit(
                d,
                "web",
                "cart",
                at,
                {"anonymous_id": anonymous_id, "device_id": d.device_id},
                properties={
                    "cart_id": f"{rng.getrandbits(64):016x}",
                    "total": total,
                    "currency": d.locale.currency,
                    "items": items,
                },
            )
            at += timedelta(seconds=rng.randint(20, 300))
        if d.linked:  # the login ties the anonymous history to the account
            self._emit(
                d,
                "web",
                "identify",
                at,
                {"anonymous_id": anonymous_id, "device_id": d.device_id, "email": d.email},
                {"language": lang},
            )


def _capitalised(email: str) -> str:
    local, domain = email.split("@")
    return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain.capitalize()


def _postal_address(d: _Draft) -> str:
    """The address as the customer writes it in a ticket, in their country's order."""
    c, line1, city, region, postcode = d.locale.country, d.address, d.city.name, d.city.region, d.postcode
    if c == "US":
        return f"{line1}, {city}, {region} {postcode}"
    if c == "GB":
        return f"{line1}, {city} {postcode}"
    if c == "BR":
        return f"{line1}, {city} - {region}, {postcode}"
    if c == "CN":
        return f"{'' if region == city else region}{city}{line1}"
    if c == "JP":
        return f"〒{postcode} {region}{city}{line1}"
    return f"{line1}, {postcode} {city}"


def _count_groups(d: _Draft) -> int:
    """How many profiles a correct resolver makes of this person: union-find over normalized identifiers."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(key: tuple[str, str]) -> tuple[str, str]:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for _, event in d.events:
        keys = [
            (kind, d.phone.e164 if kind == "phone" else value.strip().lower() if kind == "email" else value)
            for kind, value in event["identifiers"].items()
        ]
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
        find(keys[0])
    return len({find(key) for key in parent})


def _iter_people(seed: int) -> Iterator[tuple[DemoPerson, list[tuple[datetime, dict[str, Any]]]]]:
    generator = _Generator(seed)
    index = 0
    while True:
        yield generator.person(index)
        index += 1


def _dataset(seed: int, made: list[tuple[DemoPerson, list[tuple[datetime, dict[str, Any]]]]]) -> DemoDataset:
    timed = [
        (at.timestamp(), n, event, person.index) for n, (person, events) in enumerate(made) for at, event in events
    ]
    # Instants, not strings: offsets differ, so "…T10:00+09:00" sorts wrongly against "…T03:00+00:00".
    timed.sort(key=lambda row: (row[0], row[1]))
    owner = {(e["source"], e["source_event_id"]): idx for _, _, e, idx in timed}
    return DemoDataset(seed=seed, events=[e for _, _, e, _ in timed], people=[p for p, _ in made], owner=owner)


def generate_demo(seed: int = 7, people: int = 2000) -> DemoDataset:
    """`people` customers (about 6.5 events each: 2,000 give ~13k events, 4,000 give ~26k)."""
    iterator = _iter_people(seed)
    return _dataset(seed, [next(iterator) for _ in range(people)])


def generate_demo_events(min_events: int, seed: int = 7) -> DemoDataset:
    """The smallest demo (same people as `generate_demo` with this seed) with at least `min_events` events,
    for ingest benchmarks."""
    iterator, made, count = _iter_people(seed), [], 0
    while count < min_events:
        made.append(next(iterator))
        count += len(made[-1][1])
    return _dataset(seed, made)


def write_jsonl(dataset: DemoDataset, path: Path) -> None:
    """One event per line, UTF-8, the format the JSONL import reads."""
    with path.open("w", encoding="utf-8") as out:
        for event in dataset.events:
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write deterministic demo events as JSONL.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--out", type=Path, help="JSONL file to write; without it only the summary is printed")
    args = parser.parse_args(argv)
    dataset = generate_demo(args.seed, args.people)
    if args.out:
        write_jsonl(dataset, args.out)
    print(json.dumps(dataset.summary(), indent=2, ensure_ascii=False))
