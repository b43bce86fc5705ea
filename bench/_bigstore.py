"""A store of many customers, written without the ingest pipeline, for read benchmarks (bench/paged_reads.py).

This bypasses the ingest pipeline on purpose. Through `cdp.ingest` a store of 1,000,000 customers costs about
20 minutes of CPU (836 events/s per core after 500k stored, README), more as the store grows, spent on work no
read benchmark measures: validation, identity resolution against the store, PII classification, computed traits
and an audit entry per batch. Here the rows are made directly, about 0.6 ms of CPU per customer, with multi-row
SQLAlchemy Core inserts in transactions of `chunk` customers, but with the project's own storage pieces, so the
read path finds what ingest would have stored:

* a profile per customer (jurisdiction EU, status active, never merged: the merge and status defaults);
* its data key from `KeyStore.new_data_key`, wrapped under the master key and written by `KeyStore.flush` before
  the chunk's data commits (as `Store.transaction` does);
* an email identity: normalized and blind-indexed by `normalize_identifiers` with the store's indexer, the value
  encrypted by `KeyStore.encrypt` bound to its row (identity, value, row id, profile id);
* traits first_name, last_name and city, categorised by the `TraitClassifier` ingest uses, encrypted the same way;
* the identify event that would have created the customer (properties encrypted, idempotency key in event_key);
* a consent-ledger record for marketing.email: granted for four customers in five, withdrawn for the fifth
  (legal basis from the purposes file, as `record_consent` takes it);
* and one customer (the first) with `events` more events: page views, carts and orders over two years, amounts
  converted to the base currency with the store's rates table, as ingest does.

Not written, because none of the measured reads touches them: the audit entries of ingest batches, computed
traits (`cdp traits compute`), PII discoveries. On SQLite the build runs with `PRAGMA synchronous=OFF` on its
own connection (restored afterwards); on PostgreSQL the event partitions are made as `cdp worker` makes them and
the tables are analysed, as autovacuum would have done on a live store.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, insert, text

from bench._setup import bench_store
from cdp.db import table_of, upgrade
from cdp.events.currency import to_minor
from cdp.events.models import Event, EventKey
from cdp.events.partitions import ensure_partitions
from cdp.identity.models import Identity, Profile
from cdp.identity.resolve import normalize_identifiers
from cdp.ids import new_id, utcnow
from cdp.ingest.classify import TraitClassifier
from cdp.profiles.models import Trait
from cdp.settings import Settings
from cdp.store import Store
from consent.models import ConsentRecord
from policies import purposes

COUNTRY = "DE"
JURISDICTION = "EU"
CONSENT_PURPOSE = "marketing.email"
SOURCE = "bench"
CITIES = ("Berlin", "Hamburg", "München", "Köln", "Leipzig")


def email(i: int) -> str:
    return f"customer{i}@shop-mail.de"


def first_name(i: int) -> str:
    return f"Vorname{i}"


def last_name(i: int) -> str:
    return f"Nachname{i}"


def city(i: int) -> str:
    return CITIES[i % len(CITIES)]


def consented(i: int) -> bool:
    """Whether customer i granted marketing.email (the others withdrew it)."""
    return i % 5 != 4


@dataclass(frozen=True)
class BigStore:
    customers: int
    heavy_id: str  # profile id of customer 0, the one with `heavy_events` events besides its identify event
    heavy_events: int


def build(
    store: Store, customers: int, events: int, *, chunk: int = 10_000, log: Callable[[str], None] = print
) -> BigStore:
    """Write `customers` customers (customer 0 with `events` extra events) into an empty, migrated store."""
    chunk = min(chunk, store.settings.dek_cache_size)  # a chunk's new keys stay cached until encrypted with
    builder = _Builder(store)
    with store.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.commit()
        try:
            heavy = builder.customers(conn, 0, min(chunk, customers))[0]
            for start in range(chunk, customers, chunk):
                builder.customers(conn, start, min(start + chunk, customers))
                if (start + chunk) % 100_000 == 0:
                    log(f"  {start + chunk:,} customers written")
            for start in range(0, events, chunk):
                builder.heavy_events(conn, heavy, start, min(start + chunk, events))
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                conn.commit()
    if not sqlite:
        with store.transaction() as session:
            ensure_partitions(session, utcnow().date())
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return BigStore(customers, heavy, events)


class _Builder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.classifier = TraitClassifier.default()
        self.legal_basis = purposes.get(CONSENT_PURPOSE).legal_basis.get(JURISDICTION, "consent")
        self.now = utcnow()
        self.rng = random.Random(7)

    def _encrypt(self, profile_id: str, table: str, column: str, row_id: str, value: str) -> bytes:
        return self.store.keystore.encrypt(profile_id, table, column, row_id, value)

    def _write(self, conn: Connection, rows: dict[type, list[dict]]) -> None:
        """One transaction: the rows (parents first), then the chunk's data keys, then the commit."""
        with conn.begin():
            for model, values in rows.items():
                if values:
                    conn.execute(insert(table_of(model)), values)
            self.store.keystore.flush()

    def customers(self, conn: Connection, start: int, stop: int) -> list[str]:
        rows: dict[type, list[dict]] = {m: [] for m in (Profile, Identity, Trait, EventKey, Event, ConsentRecord)}
        ids = []
        for i in range(start, stop):
            profile_id = new_id()
            ids.append(profile_id)
            created = self.now + timedelta(microseconds=i)
            rows[Profile].append(
                {"id": profile_id, "created_at": created, "merged_into": None, "jurisdiction": JURISDICTION,
                 "status": "active"}
            )  # fmt: skip
            self.store.keystore.new_data_key(profile_id)
            (identifier,), _ = normalize_identifiers(self.store.indexer, {"email": email(i)}, COUNTRY)
            identity_id = new_id()
            rows[Identity].append(
                {"id": identity_id, "profile_id": profile_id, "kind": identifier.kind,
                 "blind_index": identifier.blind_index,
                 "value_ct": self._encrypt(profile_id, "identity", "value", identity_id, identifier.value),
                 "source": SOURCE, "created_at": created, "unrelated_links": 0}
            )  # fmt: skip
            seen = self.now - timedelta(days=i % 730, seconds=i % 86_400)
            traits = {"first_name": first_name(i), "last_name": last_name(i), "city": city(i)}
            for name, value in traits.items():
                trait_id = new_id()
                rows[Trait].append(
                    {"id": trait_id, "profile_id": profile_id, "name": name,
                     "category": self.classifier.category(name, value),
                     "value_ct": self._encrypt(profile_id, "trait", "value", trait_id,
                                               json.dumps(value, ensure_ascii=False)),
                     "source": SOURCE, "updated_at": seen}
                )  # fmt: skip
            self._event(rows, profile_id, f"identify-{i}", "identify", seen, {})
            rows[ConsentRecord].append(
                {"id": new_id(), "profile_id": profile_id, "purpose": CONSENT_PURPOSE,
                 "status": "granted" if consented(i) else "withdrawn", "legal_basis": self.legal_basis,
                 "jurisdiction": JURISDICTION, "source": "banner", "recorded_at": seen, "actor": None}
            )  # fmt: skip
        self._write(conn, rows)
        return ids

    def heavy_events(self, conn: Connection, profile_id: str, start: int, stop: int) -> None:
        rows: dict[type, list[dict]] = {EventKey: [], Event: []}
        for n in range(start, stop):
            at = self.now - timedelta(seconds=self.rng.randrange(730 * 86_400))
            kind = self.rng.choices(("page_view", "cart", "order"), (7, 1, 2))[0]
            properties: dict[str, object] = {"url": f"/products/{n % 500}"}
            if kind != "page_view":
                properties = {"order_id": f"o{n}", "total": f"{10 + n % 90}.90", "currency": "EUR"}
            self._event(rows, profile_id, f"heavy-{n}", kind, at, properties)
        self._write(conn, rows)

    def _event(self, rows: dict[type, list[dict]], profile_id: str, source_id: str, kind: str, at: datetime,
               properties: dict[str, object]) -> None:  # fmt: skip
        event_id = new_id()
        amount = base = currency = base_currency = None
        if "total" in properties:
            currency, base_currency = str(properties["currency"]), self.store.settings.base_currency
            amount = to_minor(properties["total"], currency)
            base = self.store.rates.convert_minor(amount, currency, base_currency, at.date())
        rows[EventKey].append({"source": SOURCE, "source_event_id": source_id, "event_id": event_id,
                               "profile_id": profile_id})  # fmt: skip
        rows[Event].append(
            {"id": event_id, "profile_id": profile_id, "source": SOURCE, "source_event_id": source_id, "type": kind,
             "occurred_at": at.astimezone(UTC), "utc_offset_minutes": 60, "received_at": self.now,
             "amount_minor": amount, "currency": currency, "base_amount_minor": base, "base_currency": base_currency,
             "properties_ct": self._encrypt(profile_id, "event", "properties", event_id,
                                            json.dumps(properties, ensure_ascii=False, separators=(",", ":"))),
             "redacted_ct": None}
        )  # fmt: skip


@contextmanager
def big_store(
    customers: int,
    events: int,
    *,
    keep: Path | None = None,
    postgres: str | None = None,
    log: Callable[[str], None] = print,
) -> Iterator[tuple[Store, BigStore]]:
    """A built store, thrown away afterwards; or, with `keep` (SQLite only), built once into that directory and
    reused by later runs asking for the same size (its master key is kept beside it, in a 0600 file)."""
    if keep is None:
        with bench_store(postgres) as store:
            yield store, _timed_build(store, customers, events, log)
        return
    if postgres:
        raise SystemExit("--keep keeps a SQLite store; leave it out with --postgres")
    keep.mkdir(parents=True, exist_ok=True)
    manifest = keep / "bigstore.json"
    saved = json.loads(manifest.read_text()) if manifest.exists() else None
    if saved is not None and (saved["customers"], saved["heavy_events"]) != (customers, events):
        raise SystemExit(f"{keep} holds {saved['customers']:,} customers / {saved['heavy_events']:,} events")
    master_key = saved["master_key"] if saved else "v1:" + base64.b64encode(os.urandom(32)).decode()
    settings = Settings(data_dir=keep, database_url=f"sqlite:///{keep}/bench.db",
                        keystore_url=f"sqlite:///{keep}/keys.db", master_key=master_key)  # fmt: skip
    upgrade(settings.database_url)  # a kept store gets migrations added since it was built
    store = Store.open(settings)
    try:
        if saved is None:
            built = _timed_build(store, customers, events, log)
            manifest.touch(mode=0o600)
            manifest.write_text(json.dumps({**asdict(built), "master_key": master_key}))
        else:
            built = BigStore(saved["customers"], saved["heavy_id"], saved["heavy_events"])
            log(f"reusing {keep}: {customers:,} customers, {events:,} events on one")
        yield store, built
    finally:
        store.close()


def _timed_build(store: Store, customers: int, events: int, log: Callable[[str], None]) -> BigStore:
    wall, cpu = time.perf_counter(), time.process_time()
    built = build(store, customers, events, log=log)
    log(
        f"built {customers:,} customers + {events:,} events on one in {time.perf_counter() - wall:.0f} s"
        f" ({time.process_time() - cpu:.0f} s CPU; load average {os.getloadavg()[0]:.1f})"
    )
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description="Build a store ahead of `bench/paged_reads.py --keep DIR`.")
    parser.add_argument("keep", type=Path)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    with big_store(args.customers, args.events, keep=args.keep):
        pass


if __name__ == "__main__":  # python -m bench._bigstore DIR [--customers N] [--events N]
    main()
