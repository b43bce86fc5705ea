"""The key store: per-profile data keys (DEKs) wrapped by the master key, in their own database.

Kept apart from the data database so a backup of the data never carries the keys that open it. Erasure
is crypto-shredding: deleting a profile's DEK rows makes every ciphertext of it unreadable, in every backup.

Its schema is a few small tables created on first use (`ensure_schema`, safe when several processes start
together), versioned by `keystore_meta`; the data database's schema is managed by alembic.

Master key rotation runs in two phases that running processes honour (`cdp keys rotate`, `cdp keys retire`):
`kek_state` names the current master key version and `kek_retired` the versions taken out of use. Keys are
wrapped when they are written (`flush`), under a lock on `kek_state`: a process whose ring is behind the
current version reloads its ring first, and no process can write a key under a retired version. `retire`
takes the same lock exclusively and refuses while any key is still wrapped with the version.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from cdp.crypto.cipher import DecryptionError, associated_data, key_id_bytes, key_id_of, open_sealed, seal
from cdp.crypto.master import MasterKeyError, MasterKeyRing

KEYSTORE_SCHEMA_VERSION = 1
metadata = MetaData()

data_key = Table(
    "data_key",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("profile_id", String(36), nullable=False, index=True),
    Column("kek_version", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
system_key = Table(
    "system_key",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kek_version", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
)
keystore_meta = Table("keystore_meta", metadata, Column("schema_version", Integer, primary_key=True))
kek_state = Table(
    "kek_state",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: the row every key write locks
    Column("current_version", Integer, nullable=False),
)
# Signed heads of the data database's audit log (see cdp.access.checkpoints): kept here, in the key store,
# because the data database's owner must not be able to rewrite them.
audit_checkpoint = Table(
    "audit_checkpoint",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("at", String(40), nullable=False),  # ISO 8601 UTC, exactly as signed
    Column("mac", String(64), nullable=False),
)
kek_retired = Table(
    "kek_retired",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("retired_at", DateTime(timezone=True), nullable=False),
)

BLIND_INDEX_KEY = "blind-index"
# Arbitrary constant naming "key store schema creation" among PostgreSQL advisory locks (ASCII "cdpkeys").
_PG_SCHEMA_LOCK_KEY = 0x63_6470_6B65_7973
_SCHEMA_ATTEMPTS = 5


class RetireRefused(RuntimeError):
    """A master key version cannot be retired yet; the message says why and what to do."""


@dataclass(frozen=True)
class DataKey:
    id: str
    profile_id: str
    aead: AESGCM
    id_bytes: bytes = b""  # the id's 16 bytes, as written into every ciphertext

    def __post_init__(self) -> None:
        object.__setattr__(self, "id_bytes", uuid.UUID(self.id).bytes)


def _wrap(kek: bytes, name: str, secret: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(kek).encrypt(nonce, secret, f"cdp-key\x1f{name}".encode())


def _unwrap(kek: bytes, name: str, wrapped: bytes) -> bytes:
    return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], f"cdp-key\x1f{name}".encode())


class _TtlLru:
    """Bounded LRU whose entries expire, so a key shredded by another process stops working here too."""

    def __init__(self, size: int, ttl_seconds: float) -> None:
        self._items: OrderedDict[str, tuple[float, DataKey]] = OrderedDict()
        self._size, self._ttl = size, ttl_seconds
        self._lock = threading.Lock()

    def get(self, key: str) -> DataKey | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: str, value: DataKey) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self._ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, predicate) -> None:  # noqa: ANN001 - a callable over DataKey
        with self._lock:
            for key in [k for k, (_, v) in self._items.items() if predicate(v)]:
                del self._items[key]


class KeyStore:
    def __init__(
        self,
        engine: Engine,
        ring: MasterKeyRing,
        cache_size: int = 10_000,
        ttl_seconds: float = 60.0,
        reload_ring: Callable[[], MasterKeyRing] | None = None,
    ):
        """`reload_ring` reads the ring again (from the key file) when another process has rotated it."""
        self.engine = engine
        self.ring = ring
        self._reload_ring = reload_ring
        self._by_key_id = _TtlLru(cache_size, ttl_seconds)
        self._by_profile = _TtlLru(cache_size, ttl_seconds)
        # Keys made but not yet written, per thread: one thread's rollback must never discard another's.
        self._pending = threading.local()
        self._system_secrets: dict[str, bytes] = {}

    def ensure_schema(self) -> None:
        """Create the tables and their first rows; safe when several processes start on an empty key store."""
        for attempt in range(_SCHEMA_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    if conn.dialect.name == "postgresql":  # concurrent CREATE TABLEs collide in pg_type
                        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK_KEY})
                    metadata.create_all(conn)
                    if conn.execute(select(keystore_meta.c.schema_version)).first() is None:
                        conn.execute(insert(keystore_meta).values(schema_version=KEYSTORE_SCHEMA_VERSION))
                    if conn.execute(select(kek_state.c.id)).first() is None:
                        conn.execute(insert(kek_state).values(id=1, current_version=self.ring.current_version))
                return
            except DBAPIError:  # SQLite: another process created a table or row between our check and write
                if attempt == _SCHEMA_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    # -- master key versions ---------------------------------------------------------------------
    def _lock_versions(self, conn: Connection, *, exclusive: bool) -> tuple[int, set[int]]:
        """Lock `kek_state` (shared for key writes, exclusive to change versions) and read the current and
        retired versions. SQLite has one writer at a time: a no-op write takes its lock before the read."""
        if conn.dialect.name == "sqlite":
            conn.execute(update(kek_state).values(current_version=kek_state.c.current_version))
            current = conn.execute(select(kek_state.c.current_version)).scalar_one()
        else:
            lock = select(kek_state.c.current_version).with_for_update(read=not exclusive)
            current = conn.execute(lock).scalar_one()
        return current, set(conn.execute(select(kek_retired.c.version)).scalars())

    def _ring_for_writing(self, conn: Connection) -> MasterKeyRing:
        """The ring to wrap new keys with, reloaded when another process rotated; never a retired version."""
        current, retired = self._lock_versions(conn, exclusive=False)
        if self.ring.current_version < current and self._reload_ring is not None:
            self.ring = self._reload_ring()
        if self.ring.current_version in retired:
            raise MasterKeyError(
                f"master key version {self.ring.current_version} is retired; this process needs version "
                f"{current}: add it to CDP_MASTER_KEY (or the key file) and restart"
            )
        return self.ring

    def _unwrap_key(self, version: int, name: str, wrapped: bytes) -> bytes:
        """Unwrap, reloading the ring once when the version is newer than this process knows."""
        if version not in self.ring.keys and self._reload_ring is not None:
            self.ring = self._reload_ring()
        return _unwrap(self.ring.key(version), name, wrapped)

    def make_current(self) -> int:
        """Phase 1 of rotation: record this ring's newest version as current for every process."""
        with self.engine.begin() as conn:
            current, retired = self._lock_versions(conn, exclusive=True)
            version = self.ring.current_version
            if version < current or version in retired:
                raise MasterKeyError(f"master key version {version} is older than the current {current} or retired")
            conn.execute(update(kek_state).values(current_version=version))
        return version

    def retire(self, version: int) -> None:
        """Phase 2: take `version` out of use. Refused while it is current or any key is wrapped with it."""
        with self.engine.begin() as conn:
            current, retired = self._lock_versions(conn, exclusive=True)
            if version in retired:
                return
            if version >= current:
                raise RetireRefused(f"version {version} is not older than the current version {current}: rotate first")
            used = sum(
                conn.execute(select(func.count()).select_from(table).where(table.c.kek_version == version)).scalar_one()
                for table in (data_key, system_key)
            )
            if used:
                raise RetireRefused(
                    f"{used} keys are still wrapped with version {version} (a process wrote them before it saw "
                    f"version {current}): run `cdp keys rewrap`, then retire again"
                )
            conn.execute(insert(kek_retired).values(version=version, retired_at=datetime.now(UTC)))

    def retired_versions(self) -> set[int]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(kek_retired.c.version)).scalars())

    # -- data keys -------------------------------------------------------------------------------
    def new_data_key(self, profile_id: str) -> DataKey:
        """Make a DEK for a new profile. It is queued; `flush()` must run before the data commits."""
        secret = secrets.token_bytes(32)
        key = DataKey(str(uuid.uuid4()), profile_id, AESGCM(secret))
        self._queue().append(
            {"id": key.id, "profile_id": profile_id, "secret": secret, "created_at": datetime.now(UTC)}
        )
        self._by_key_id.put(key.id, key)
        self._by_profile.put(profile_id, key)
        return key

    def flush(self) -> None:
        """Wrap and persist queued keys. Called before the data transaction commits: keys never lag data.

        Wrapped here, under the version lock, not when made: a rotation in between must not leave a key
        wrapped with a version that is about to be retired."""
        rows, self._pending.rows = self._queue(), []
        if rows:
            with self.engine.begin() as conn:
                ring = self._ring_for_writing(conn)
                wrapped = [
                    {
                        "id": r["id"],
                        "profile_id": r["profile_id"],
                        "kek_version": ring.current_version,
                        "wrapped": _wrap(ring.current, r["id"], r["secret"]),
                        "created_at": r["created_at"],
                    }
                    for r in rows
                ]
                conn.execute(insert(data_key), wrapped)

    def _queue(self) -> list[dict]:
        if not hasattr(self._pending, "rows"):
            self._pending.rows = []
        return self._pending.rows

    def discard_pending(self) -> None:
        rows, self._pending.rows = self._queue(), []
        ids = {r["id"] for r in rows}
        self._by_key_id.drop(lambda k: k.id in ids)
        self._by_profile.drop(lambda k: k.id in ids)

    def key_for_profile(self, profile_id: str) -> DataKey:
        """The DEK that encrypts new values of this profile (its newest key)."""
        cached = self._by_profile.get(profile_id)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            row = conn.execute(
                select(data_key).where(data_key.c.profile_id == profile_id).order_by(data_key.c.created_at.desc())
            ).first()
        if row is None:
            raise DecryptionError(f"profile {profile_id} has no data key (erased, or never created)")
        key = self._load(row)
        self._by_profile.put(profile_id, key)
        return key

    def prefetch(self, profile_ids: Iterable[str]) -> None:
        """Load the data keys of many profiles with one query per chunk into the bounded caches, so encrypting
        or decrypting a batch of customers does not query the key store once per profile. Call it per batch
        (at most the cache size) right before the batch's encrypt/decrypt calls."""
        missing = [p for p in dict.fromkeys(profile_ids) if self._by_profile.get(p) is None]
        for start in range(0, len(missing), 2_000):
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(data_key)
                    .where(data_key.c.profile_id.in_(missing[start : start + 2_000]))
                    .order_by(data_key.c.created_at)
                ).all()
            for row in rows:  # oldest first: each profile's newest key is the one left as its current key
                self._by_profile.put(row.profile_id, self._load(row))

    def key_by_id(self, key_id: str) -> DataKey:
        cached = self._by_key_id.get(key_id)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            row = conn.execute(select(data_key).where(data_key.c.id == key_id)).first()
        if row is None:
            raise DecryptionError("the data key of this value is gone (crypto-shredded)")
        return self._load(row)

    def _load(self, row) -> DataKey:  # noqa: ANN001 - a Row of data_key
        secret = self._unwrap_key(row.kek_version, row.id, row.wrapped)
        key = DataKey(row.id, row.profile_id, AESGCM(secret))
        self._by_key_id.put(key.id, key)
        return key

    def shred(self, profile_ids: list[str]) -> int:
        """Delete every data key of these profiles. Returns how many keys were destroyed."""
        with self.engine.begin() as conn:
            deleted = conn.execute(delete(data_key).where(data_key.c.profile_id.in_(profile_ids))).rowcount
        gone = set(profile_ids)
        self._by_key_id.drop(lambda k: k.profile_id in gone)
        self._by_profile.drop(lambda k: k.profile_id in gone)
        return deleted

    # -- encryption of values --------------------------------------------------------------------
    def encrypt(self, profile_id: str, table: str, column: str, row_id: str, value: str) -> bytes:
        key = self.key_for_profile(profile_id)
        return seal(key.aead, key.id_bytes, value.encode(), associated_data(table, column, row_id, profile_id))

    def decrypt(self, profile_id: str, table: str, column: str, row_id: str, blob: bytes) -> str:
        return _open(self.key_by_id(key_id_of(blob)), profile_id, table, column, row_id, blob)

    def decrypt_many(self, table: str, column: str, values: Iterable[tuple[str, str, bytes]]) -> list[str]:
        """Many values of one column, each given as (profile id, row id, ciphertext), opened as `decrypt` opens
        one: each data key among them is looked up once, not once per value (a batch of one customer's events
        is usually under one key)."""
        keys: dict[bytes, DataKey] = {}
        opened = []
        for profile_id, row_id, blob in values:
            key_id = key_id_bytes(blob)
            key = keys.get(key_id)
            if key is None:
                key = keys[key_id] = self.key_by_id(str(uuid.UUID(bytes=key_id)))
            opened.append(_open(key, profile_id, table, column, row_id, blob))
        return opened

    # -- system keys ---------------------------------------------------------------------------
    def system_secret(self, name: str) -> bytes:
        """A named 32-byte secret shared by every process (the blind-index root, the audit checkpoint key),
        made on first use and wrapped like data keys."""
        secret = self._system_secrets.get(name)
        if secret is None:
            try:
                secret = self._load_or_create_system_secret(name)
            except IntegrityError:  # another process created it first: use theirs
                secret = self._load_or_create_system_secret(name)
            self._system_secrets[name] = secret
        return secret

    def _load_or_create_system_secret(self, name: str) -> bytes:
        with self.engine.begin() as conn:
            row = conn.execute(select(system_key).where(system_key.c.name == name)).first()
            if row is not None:
                return self._unwrap_key(row.kek_version, name, row.wrapped)
            ring = self._ring_for_writing(conn)
            secret = secrets.token_bytes(32)
            conn.execute(
                insert(system_key).values(
                    name=name, kek_version=ring.current_version, wrapped=_wrap(ring.current, name, secret)
                )
            )
            return secret

    def blind_indexer(self) -> BlindIndexer:
        return BlindIndexer(self.system_secret(BLIND_INDEX_KEY))

    # -- rotation --------------------------------------------------------------------------------
    def rewrap_all(self, batch_size: int = 1000) -> int:
        """Rewrap every key not under the current master key version. Data is not touched."""
        current = self.ring.current_version
        rewrapped = 0
        with self.engine.begin() as conn:
            for row in conn.execute(select(system_key).where(system_key.c.kek_version != current)).all():
                secret = _unwrap(self.ring.key(row.kek_version), row.name, row.wrapped)
                conn.execute(
                    update(system_key)
                    .where(system_key.c.name == row.name)
                    .values(kek_version=current, wrapped=_wrap(self.ring.current, row.name, secret))
                )
                rewrapped += 1
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(data_key.c.id, data_key.c.kek_version, data_key.c.wrapped)
                    .where(data_key.c.kek_version != current)
                    .limit(batch_size)
                ).all()
                for row in rows:
                    secret = _unwrap(self.ring.key(row.kek_version), row.id, row.wrapped)
                    conn.execute(
                        update(data_key)
                        .where(data_key.c.id == row.id)
                        .values(kek_version=current, wrapped=_wrap(self.ring.current, row.id, secret))
                    )
            rewrapped += len(rows)
            if len(rows) < batch_size:
                return rewrapped

    def versions_in_use(self) -> set[int]:
        with self.engine.connect() as conn:
            used = {v for (v,) in conn.execute(select(data_key.c.kek_version).distinct())}
            used |= {v for (v,) in conn.execute(select(system_key.c.kek_version).distinct())}
        return used


def _open(key: DataKey, profile_id: str, table: str, column: str, row_id: str, blob: bytes) -> str:
    if key.profile_id != profile_id:
        raise DecryptionError("ciphertext belongs to another profile")
    return open_sealed(key.aead, blob, associated_data(table, column, row_id, profile_id)).decode()


class BlindIndexer:
    """HMAC-SHA256 over normalized identifiers, one HKDF-derived key per identifier kind.

    Leaks equality only: two rows with the same (kind, value) share an index. Never index low-cardinality
    fields (country, gender): equality there reveals the value by counting.
    """

    def __init__(self, root: bytes) -> None:
        self._root = root
        self._keys: dict[str, bytes] = {}

    def _key(self, kind: str) -> bytes:
        key = self._keys.get(kind)
        if key is None:
            key = HKDF(hashes.SHA256(), 32, salt=None, info=f"cdp-blind-index\x1f{kind}".encode()).derive(self._root)
            self._keys[kind] = key
        return key

    def index(self, kind: str, normalized: str) -> bytes:
        return hmac.new(self._key(kind), normalized.encode(), hashlib.sha256).digest()
