"""Identity-resolution quality: a seeded generator of cross-channel people with ground truth, then pairwise
precision / recall / F1 of deterministic linking alone and with Splink suggestions at two thresholds.

Each person lives in one of seven countries and shows up in 2-4 channels (Shopify, Amazon, the own shop, the
support desk, the newsletter), each with its own identifiers and the variations real data has: gmail dots,
+tags and googlemail.com; Amazon relay addresses; placeholder emails and phones (listed ones and a shop's own
unlisted one); 00/011 prefixes and national numbers without a country; unusable phones ("unknown"); typos in
emails; a different email per channel; accents dropped and names in other case; some households sharing a
phone. Pairs are counted over records (events): two records are a true pair when they belong to one person.

    python -m bench.identity_eval --people 2000            # ~12,000 events
    python -m bench.identity_eval --events 100000          # the issue's size
    python -m bench.identity_eval --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python -m bench.identity_eval --people 2000 --old-email-forms  # a store from before the provider rules,
                                                                    # then `cdp identity reindex`
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import phonenumbers  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench._setup import bench_store  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.events.models import Event  # noqa: E402
from cdp.identity import rules  # noqa: E402
from cdp.identity.models import Profile, ReviewItem  # noqa: E402
from cdp.identity.rules import canonical_email, placeholder_reason  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402
from cdp.resolution import reindex, suggest  # noqa: E402
from cdp.store import Store  # noqa: E402

BATCH = 500
THRESHOLDS = (0.9, 0.99)

# country -> (first names, last names, cities with postcode prefixes, phone pattern, mobile prefix choices)
LOCALES: dict[str, dict[str, Any]] = {
    "DE": {
        "first": ["Anna", "Lena", "Jonas", "Lukas", "Sophie", "Felix", "Marie", "Paul", "Jürgen", "Müge", "Katrin",
                  "Maximilian", "Hannah", "Leon", "Emilia", "Tobias", "Sabine", "Dieter", "Ute", "Björn"],
        "last": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
                 "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
                 "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier"],
        "cities": [("Berlin", "10"), ("Hamburg", "20"), ("München", "80"), ("Köln", "50"), ("Leipzig", "04")],
        "street": ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schulstraße", "Bergstraße"],
        "phone": ("+49 15{a}{n8}", "0049 15{a}{n8}", "015{a} {n8}"),
        "mail": ["web.de", "gmx.de", "gmail.com", "t-online.de", "outlook.com"],
    },
    "FR": {
        "first": ["Léa", "Chloé", "Hugo", "Louis", "Manon", "Camille", "Théo", "Inès", "Gabriel", "Zoé",
                  "Élodie", "Mathis", "Clément", "Jeanne", "Noé", "Amélie"],
        "last": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
                 "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux"],
        "cities": [("Paris", "75"), ("Lyon", "69"), ("Marseille", "13"), ("Toulouse", "31"), ("Nantes", "44")],
        "street": ["rue de la Paix", "avenue Victor Hugo", "rue Nationale", "boulevard Voltaire", "rue du Moulin"],
        "phone": ("+33 6 {n8}", "0033 6 {n8}", "06 {n8}"),
        "mail": ["orange.fr", "free.fr", "gmail.com", "laposte.net", "hotmail.com"],
    },
    "US": {
        "first": ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
                  "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah"],
        "last": ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
                 "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore"],
        "cities": [("Austin", "787"), ("Seattle", "981"), ("Denver", "802"), ("Boston", "021"), ("Miami", "331")],
        "street": ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Blvd", "Washington St", "Elm St"],
        "phone": ("+1 {area} {x3} {n4}", "011 1 {area} {x3} {n4}", "({area}) {x3}-{n4}"),
        "mail": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"],
    },
    "CN": {
        "first": ["Wei", "Fang", "Na", "Min", "Jing", "Lei", "Yang", "Jun", "Yan", "Hui", "Xin", "Tao", "Li",
                  "Qiang", "Ying", "Hao"],
        "last": ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
                 "Zhu", "Hu", "Guo", "He", "Lin"],
        "cities": [("Shanghai", "200"), ("Beijing", "100"), ("Shenzhen", "518"), ("Hangzhou", "310")],
        "street": ["Nanjing Road", "Huaihai Road", "Renmin Road", "Jiefang Road", "Zhongshan Road"],
        "phone": ("+86 13{a} {n8}", "0086 13{a} {n8}", "13{a}{n8}"),
        "mail": ["qq.com", "163.com", "126.com", "gmail.com", "sina.com"],
    },
    "BR": {
        "first": ["João", "Maria", "Ana", "Pedro", "Lucas", "Juliana", "Gabriel", "Fernanda", "Rafael",
                  "Camila", "Bruno", "Larissa", "Thiago", "Beatriz", "Mateus", "Letícia"],
        "last": ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
                 "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Araújo"],
        "cities": [("São Paulo", "01"), ("Rio de Janeiro", "20"), ("Curitiba", "80"), ("Recife", "50")],
        "street": ["Rua das Flores", "Avenida Paulista", "Rua XV de Novembro", "Rua da Praia", "Avenida Brasil"],
        "phone": ("+55 11 9{n8}", "0055 11 9{n8}", "(11) 9{n8}"),
        "mail": ["gmail.com", "hotmail.com", "uol.com.br", "bol.com.br", "yahoo.com.br"],
    },
    "JP": {
        "first": ["Hiroshi", "Yuki", "Haruto", "Sakura", "Ren", "Aoi", "Sota", "Hina", "Yuto", "Mei", "Kenji",
                  "Yui", "Takumi", "Rin", "Daiki", "Akari"],
        "last": ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi",
                 "Kato", "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue", "Kimura", "Hayashi"],
        "cities": [("Tokyo", "1"), ("Osaka", "5"), ("Yokohama", "2"), ("Nagoya", "4"), ("Sapporo", "0")],
        "street": ["Chuo-dori", "Meiji-dori", "Omotesando", "Shinjuku-dori", "Yasukuni-dori"],
        "phone": ("+81 90 {n8}", "0081 90 {n8}", "090-{n8}"),
        "mail": ["docomo.ne.jp", "gmail.com", "yahoo.co.jp", "icloud.com", "ezweb.ne.jp"],
    },
    "GB": {
        "first": ["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Charlie", "Ivy", "Freddie",
                  "Grace", "Alfie", "Lily", "Archie", "Evie"],
        "last": ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
                 "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall"],
        "cities": [("London", "SW1"), ("Manchester", "M1"), ("Leeds", "LS1"), ("Bristol", "BS1")],
        "street": ["High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane", "Manor Road"],
        "phone": ("+44 7{a}{n8}", "0044 7{a}{n8}", "07{a}{n8}"),
        "mail": ["gmail.com", "hotmail.co.uk", "btinternet.com", "outlook.com", "yahoo.co.uk"],
    },
}  # fmt: skip
US_AREAS = ["512", "206", "303", "617", "305", "415", "212", "702"]
LISTED_PLACEHOLDERS = ["x@x.com", "none@none.com", "na@na.com", "customer@example.com", "unknown@unknown.com",
                       "noemail@noemail.com", "test@test.com"]  # fmt: skip
SHOP_PLACEHOLDER = "kunde@shop-mustermann.de"  # a shop's own placeholder: no list knows it
CHANNELS = ("shopify", "amazon", "own_shop", "support_desk", "newsletter")


@dataclass
class Person:
    pid: int
    country: str
    first: str
    last: str
    birthday: str
    city: str
    postal_code: str
    address: str
    email: str
    phone: str  # E.164
    phone_raw: list[str]  # ways the person writes it
    other_email: str
    channels: list[str] = field(default_factory=list)


class Generator:
    """Deterministic for a seed: the same people, events and ground truth every run."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used_emails: set[str] = set()
        self.used_phones: set[str] = set()
        self.counter = 0

    def people(self, count: int) -> list[Person]:
        result = [self._person(i) for i in range(count)]
        for household in range(count // 200):  # 0.5 %: two people of one household share a phone
            a, b = self.rng.sample(result, 2)
            b.phone, b.phone_raw, b.country = a.phone, a.phone_raw, a.country
            del household
        return result

    def _person(self, pid: int) -> Person:
        rng = self.rng
        country = rng.choice(list(LOCALES))
        loc = LOCALES[country]
        first, last = rng.choice(loc["first"]), rng.choice(loc["last"])
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
        city, prefix = rng.choice(loc["cities"])
        postal = self._postal(country, prefix)
        address = f"{rng.randint(1, 220)} {rng.choice(loc['street'])}"
        email = self._email(first, last, loc["mail"])
        other = self._email(first, last, ["gmail.com", "yahoo.com", "outlook.com", "mail.com"])
        phone, raw = self._phone(country, loc["phone"])
        person = Person(pid, country, first, last, born.isoformat(), city, postal, address, email, phone, raw, other)
        person.channels = rng.sample(CHANNELS, rng.randint(2, 4))
        return person

    def _postal(self, country: str, prefix: str) -> str:
        rng = self.rng
        if country == "GB":
            return f"{prefix} {rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}"
        if country == "JP":
            return f"{prefix}{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
        if country == "BR":
            return f"{prefix}{rng.randint(100, 999)}-{rng.randint(100, 999)}"
        width = 5 if country != "CN" else 6
        return (prefix + "".join(str(rng.randint(0, 9)) for _ in range(width)))[:width]

    def _email(self, first: str, last: str, domains: list[str]) -> str:
        rng = self.rng
        while True:
            local = rng.choice([f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}", f"{last}.{first}"])
            local = _ascii(local).lower() + str(rng.randint(1, 9999))
            email = f"{local}@{rng.choice(domains)}"
            if email not in self.used_emails:
                self.used_emails.add(email)
                return email

    def _phone(self, country: str, patterns: tuple[str, ...]) -> tuple[str, list[str]]:
        rng = self.rng
        while True:
            digits = {
                "a": str(rng.randint(1, 9)),
                "n8": "".join(str(rng.randint(0, 9)) for _ in range(8)),
                "area": rng.choice(US_AREAS),
                "x3": str(rng.randint(201, 989)),
                "n4": f"{rng.randint(0, 9999):04d}",
            }
            raws = [p.format(**digits) for p in patterns]
            try:
                number = phonenumbers.parse(raws[0], None)
            except phonenumbers.NumberParseException:
                continue
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if (
                phonenumbers.is_valid_number(number)
                and e164 not in self.used_phones
                and not placeholder_reason("phone", e164)
            ):
                self.used_phones.add(e164)
                return e164, raws

    # -- events ----------------------------------------------------------------------------------------
    def events(self, people: list[Person]) -> Iterator[tuple[dict[str, Any], int]]:
        """(event, person id) for every record of every person."""
        for person in people:
            for channel in person.channels:
                for _ in range(self.rng.choice((1, 1, 2, 3))):
                    yield self._event(person, channel), person.pid

    def _event(self, p: Person, channel: str) -> dict[str, Any]:
        rng = self.rng
        self.counter += 1
        ids: dict[str, str] = {}
        traits: dict[str, Any] = {}
        country: str | None = p.country
        if channel == "shopify":
            ids = {"shopify_customer_id": str(900000 + p.pid), "email": self._email_variant(p)}
            if rng.random() < 0.5:
                ids["phone"] = self._phone_variant(p)
            traits = self._traits(p, name=True, address=True, birthday=rng.random() < 0.4)
        elif channel == "amazon":
            ids = {"amazon_buyer_id": f"A{p.pid:07d}X", "email": f"{_token(rng)}@marketplace.amazon.{_tld(p)}"}
            if rng.random() < 0.3:
                ids["phone"] = self._phone_variant(p)
            traits = self._traits(p, name=True, address=True, birthday=False, full_name=True)
        elif channel == "own_shop":
            ids = {"external_id": f"crm-{p.pid}", "email": self._email_variant(p, other=rng.random() < 0.3)}
            if rng.random() < 0.6:
                ids["phone"] = self._phone_variant(p)
            traits = self._traits(p, name=True, address=rng.random() < 0.7, birthday=rng.random() < 0.7)
        elif channel == "support_desk":
            ids = {"email": self._email_variant(p, other=rng.random() < 0.15)}
            if rng.random() < 0.5:
                ids["phone"] = (
                    rng.choice(["unknown", "n/a", "0000000"]) if rng.random() < 0.2 else self._phone_variant(p)
                )
            if rng.random() < 0.3:
                country = None  # the desk does not record a country: national numbers cannot be read
            traits = self._traits(p, name=True, address=False, birthday=False)
        else:  # newsletter
            ids = {"email": self._email_variant(p)}
            traits = {"first_name": p.first} if rng.random() < 0.7 else {}
        if "email" in ids and rng.random() < 0.02:
            ids["email"] = rng.choice(LISTED_PLACEHOLDERS)
        elif "email" in ids and channel == "own_shop" and rng.random() < 0.01:
            ids["email"] = SHOP_PLACEHOLDER
        return {
            "source": channel,
            "source_event_id": f"{channel}-{self.counter}",
            "type": "identify" if channel in ("newsletter", "support_desk") else "order",
            "occurred_at": f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00+00:00",
            "country": country,
            "identifiers": ids,
            "traits": traits,
            "properties": {"order_id": f"o-{self.counter}", "total": "20.00", "currency": "EUR", "items": []}
            if channel in ("shopify", "amazon", "own_shop")
            else {},
        }

    def _traits(self, p: Person, *, name: bool, address: bool, birthday: bool, full_name: bool = False) -> dict:
        rng = self.rng
        traits: dict[str, Any] = {}
        if name:
            first, last = p.first, p.last
            if rng.random() < 0.2:
                first, last = _ascii(first), _ascii(last)  # accents dropped by the channel
            if rng.random() < 0.1:
                first, last = first.upper(), last.upper()
            if rng.random() < 0.05 and len(last) > 4:
                i = rng.randrange(1, len(last) - 1)
                last = last[:i] + last[i + 1] + last[i] + last[i + 2 :]  # a transposition typo
            traits.update({"first_name": first, "last_name": last})
            if full_name:
                traits["full_name"] = f"{first} {last}"
        if address:
            traits.update({"city": p.city, "postal_code": p.postal_code, "address_line1": p.address})
        if birthday:
            traits["birthday"] = p.birthday
        return traits

    def _email_variant(self, p: Person, other: bool = False) -> str:
        rng = self.rng
        email = p.other_email if other else p.email
        local, domain = email.split("@")
        roll = rng.random()
        if domain == "gmail.com" and roll < 0.5:
            dotted = ".".join(local[i : i + 3] for i in range(0, len(local), 3))
            local = rng.choice([dotted, local + "+shop", dotted + "+news"])
            domain = rng.choice(["gmail.com", "googlemail.com"])
        elif roll < 0.04:
            i = rng.randrange(len(local) - 1)
            local = local[:i] + local[i + 1] + local[i] + local[i + 2 :]  # a typo: a different address
        if rng.random() < 0.1:
            local, domain = local.upper(), domain.upper()
        return f"{local}@{domain}"

    def _phone_variant(self, p: Person) -> str:
        return self.rng.choice(p.phone_raw)


def _ascii(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _token(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))


def _tld(p: Person) -> str:
    return {"DE": "de", "FR": "fr", "US": "com", "CN": "cn", "BR": "com.br", "JP": "co.jp", "GB": "co.uk"}[p.country]


# -- measuring ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int


def pairwise(clusters: dict[str, str], truth: dict[str, int]) -> Scores:
    """Pairwise scores over records: clusters maps record -> predicted cluster, truth record -> person."""

    def pairs(counts: Iterable[int]) -> int:
        return sum(n * (n - 1) // 2 for n in counts)

    predicted = pairs(Counter(clusters.values()).values())
    actual = pairs(Counter(truth.values()).values())
    both = pairs(Counter((clusters[r], truth[r]) for r in truth).values())
    precision = both / predicted if predicted else 1.0
    recall = both / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, actual, predicted)


def final_roots(store: Store) -> dict[str, str]:
    """source_event_id -> the root profile its event belongs to now."""
    with store.session() as s:
        parent = {pid: up for pid, up in s.execute(select(Profile.id, Profile.merged_into))}
        rows = [(sid, pid) for sid, pid in s.execute(select(Event.source_event_id, Event.profile_id))]

    def root(pid: str) -> str:
        while parent.get(pid):
            pid = parent[pid]  # type: ignore[assignment]
        return pid

    return {sid: root(pid) for sid, pid in rows}


def with_suggestions(store: Store, roots: dict[str, str], threshold: float) -> dict[str, str]:
    """Clusters when every suggested pair at or above the threshold is accepted (union-find over roots)."""
    with store.session() as s:
        items = s.execute(
            select(ReviewItem.profile_ids).where(ReviewItem.origin == "suggestion", ReviewItem.probability >= threshold)
        ).scalars()
        edges = [tuple(i.split(",")) for i in items]
    leader: dict[str, str] = {}

    def find(x: str) -> str:
        while leader.get(x, x) != x:
            leader[x] = leader.get(leader[x], leader[x])
            x = leader[x]
        return x

    for a, b in edges:
        leader[find(a)] = find(b)
    return {sid: find(r) for sid, r in roots.items()}


@dataclass
class Reindexed:
    """A store ingested with emails only lower-cased, then `cdp identity reindex`: scores before, counts, time."""

    before: Scores
    counts: Counter[str]
    seconds: float


@dataclass
class Report:
    events: int
    people: int
    stored: int
    ingest_seconds: float
    suggest_seconds: float
    deterministic: Scores
    suggested: dict[float, Scores]
    suggestion_run: suggest.SuggestionRun
    reindexed: Reindexed | None = None


def _lower_cased_only(text: str) -> str:
    """Emails as cdp normalized them before the provider rules (same validity check, then lower case)."""
    canonical_email(text)
    return text.lower()


def reindex_all(store: Store) -> tuple[Counter[str], float]:
    """`cdp identity reindex` over the whole store, batch by batch as the command runs it."""
    access = AccessContext.operator("identity_resolution")
    totals: Counter[str] = Counter()
    after: str | None = None
    started = time.perf_counter()
    while True:
        batch = store.run(lambda s, after=after: reindex.reindex_identifiers(s, store, access, after=after))
        totals.update(batch.counts)
        if batch.finished:
            return totals, time.perf_counter() - started
        after = batch.last_id


def run(store: Store, people: int, seed: int = 7, *, old_email_forms: bool = False) -> Report:
    gen = Generator(seed)
    crowd = gen.people(people)
    events, truth = [], {}
    for raw, pid in gen.events(crowd):
        events.append(raw)
        truth[raw["source_event_id"]] = pid
    access = AccessContext.operator("order_fulfillment")
    started = time.perf_counter()
    stored = 0
    with patch.object(rules, "canonical_email", _lower_cased_only) if old_email_forms else nullcontext():
        for start in range(0, len(events), BATCH):
            outcomes = store.run(lambda s, batch=events[start : start + BATCH]: ingest(s, store, access, batch))
            stored += sum(o.status == "stored" for o in outcomes)
    ingest_seconds = time.perf_counter() - started
    roots = final_roots(store)
    truth = {sid: pid for sid, pid in truth.items() if sid in roots}  # rejected events are not records
    reindexed = None
    if old_email_forms:
        before = pairwise(roots, truth)
        counts, seconds = reindex_all(store)
        reindexed = Reindexed(before, counts, seconds)
        roots = final_roots(store)
    deterministic = pairwise(roots, truth)
    started = time.perf_counter()
    with store.transaction() as session:
        outcome = suggest.suggest(session, store, AccessContext.operator("identity_resolution"))
    suggest_seconds = time.perf_counter() - started
    scored = {t: pairwise(with_suggestions(store, roots, t), truth) for t in THRESHOLDS}
    return Report(
        len(events), people, stored, ingest_seconds, suggest_seconds, deterministic, scored, outcome, reindexed
    )


def people_for(events: int) -> int:
    """How many people yield about this many events (measured: ~5.2 events per person)."""
    return max(50, round(events / 5.2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=None)
    parser.add_argument("--events", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (a throw-away database is made)")
    parser.add_argument(
        "--old-email-forms",
        action="store_true",
        help="ingest with emails only lower-cased, as before the provider rules, then run `cdp identity reindex`",
    )
    args = parser.parse_args()
    people = args.people or people_for(args.events)
    with bench_store(args.postgres) as store:
        report = run(store, people, args.seed, old_email_forms=args.old_email_forms)
    print(f"{report.people} people, {report.events} events ({report.stored} stored), seed {args.seed}")
    print(f"true pairs {report.deterministic.true_pairs}")
    print(f"{'linking':<28} {'precision':>9} {'recall':>7} {'F1':>6} {'pairs':>9}")
    rows = [("deterministic", report.deterministic)] + [
        (f"+ suggestions p >= {t}", s) for t, s in report.suggested.items()
    ]
    if report.reindexed is not None:
        rows.insert(0, ("old email forms", report.reindexed.before))
        rows[1] = ("deterministic, re-indexed", report.deterministic)
    for name, s in rows:
        print(f"{name:<28} {s.precision:>9.4f} {s.recall:>7.4f} {s.f1:>6.4f} {s.predicted_pairs:>9}")
    run_ = report.suggestion_run
    print(f"ingest: {report.stored / report.ingest_seconds:,.0f} records/s ({report.ingest_seconds:.1f} s)")
    if report.reindexed is not None:
        counts = report.reindexed.counts
        print(
            f"reindex: {counts['scanned']:,} identifiers in {report.reindexed.seconds:.1f} s: "
            + ", ".join(f"{counts[name]} {name.replace('_', ' ')}" for name in reindex.OUTCOMES[1:])
        )
    print(
        f"suggestions: {run_.compared_profiles:,} profiles in {report.suggest_seconds:.1f} s "
        f"({run_.compared_profiles / report.suggest_seconds:,.0f} profiles/s), {run_.review_items} review items"
    )


if __name__ == "__main__":
    main()
