"""The key store: per-profile data keys (DEKs) wrapped by the master key, in their own database.

Kept apart from the data database so a backup of the data never carries the keys that open it. Erasure
is crypto-shredding: deleting a profile's DEK rows makes every ciphertext of it unreadable, in every backup.

Its schema is two small tables created on first use (`ensure_schema`), versioned by `keystore_meta`;
the data database's schema is managed by alembic.
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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from cdp.crypto.cipher import DecryptionError, associated_data, key_id_of, open_sealed, seal
from cdp.crypto.master import MasterKeyRing

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

BLIND_INDEX_KEY = "blind-index"


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
    def __init__(self, engine: Engine, ring: MasterKeyRing, cache_size: int = 10_000, ttl_seconds: float = 60.0):
        self.engine = engine
        self.ring = ring
        self._by_key_id = _TtlLru(cache_size, ttl_seconds)
        self._by_profile = _TtlLru(cache_size, ttl_seconds)
        # Keys made but not yet written, per thread: one thread's rollback must never discard another's.
        self._pending = threading.local()
        self._index_key: bytes | None = None

    def ensure_schema(self) -> None:
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if conn.execute(select(keystore_meta.c.schema_version)).first() is None:
                conn.execute(insert(keystore_meta).values(schema_version=KEYSTORE_SCHEMA_VERSION))

    # -- data keys -------------------------------------------------------------------------------
    def new_data_key(self, profile_id: str) -> DataKey:
        """Make a DEK for a new profile. It is queued; `flush()` must run before the data commits."""
        secret = secrets.token_bytes(32)
        key = DataKey(str(uuid.uuid4()), profile_id, AESGCM(secret))
        version = self.ring.current_version
        row = {
            "id": key.id,
            "profile_id": profile_id,
            "kek_version": version,
            "wrapped": _wrap(self.ring.current, key.id, secret),
            "created_at": datetime.now(UTC),
        }
        self._queue().append(row)
        self._by_key_id.put(key.id, key)
        self._by_profile.put(profile_id, key)
        return key

    def flush(self) -> None:
        """Persist queued keys. Called before the data transaction commits: keys never lag data."""
        rows, self._pending.rows = self._queue(), []
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(data_key), rows)

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
        secret = _unwrap(self.ring.key(row.kek_version), row.id, row.wrapped)
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
        key = self.key_by_id(key_id_of(blob))
        if key.profile_id != profile_id:
            raise DecryptionError("ciphertext belongs to another profile")
        return open_sealed(key.aead, blob, associated_data(table, column, row_id, profile_id)).decode()

    # -- blind index -----------------------------------------------------------------------------
    def _blind_index_root(self) -> bytes:
        if self._index_key is None:
            try:
                self._index_key = self._load_or_create_index_key()
            except IntegrityError:  # another process created it first: use theirs
                self._index_key = self._load_or_create_index_key()
        return self._index_key

    def _load_or_create_index_key(self) -> bytes:
        with self.engine.begin() as conn:
            row = conn.execute(select(system_key).where(system_key.c.name == BLIND_INDEX_KEY)).first()
            if row is not None:
                return _unwrap(self.ring.key(row.kek_version), BLIND_INDEX_KEY, row.wrapped)
            secret = secrets.token_bytes(32)
            conn.execute(
                insert(system_key).values(
                    name=BLIND_INDEX_KEY,
                    kek_version=self.ring.current_version,
                    wrapped=_wrap(self.ring.current, BLIND_INDEX_KEY, secret),
                )
            )
            return secret

    def blind_indexer(self) -> BlindIndexer:
        return BlindIndexer(self._blind_index_root())

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
