"""The process-wide handle on storage: data engine, key store, blind indexer, rates. Built once per process
and passed to every service function (GraphQL, CLI, webhooks and import share it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from cdp.crypto.keystore import BlindIndexer, KeyStore
from cdp.crypto.master import load_key_ring
from cdp.db import ConcurrentWrite, check_database_role, check_schema, make_engine
from cdp.events.currency import RateTable
from cdp.settings import Settings, get_settings

T = TypeVar("T")


@dataclass
class Store:
    settings: Settings
    engine: Engine
    keystore: KeyStore
    indexer: BlindIndexer
    rates: RateTable
    _closing: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings | None = None, *, require_current_schema: bool = True) -> Store:
        settings = settings or get_settings()
        size, pooler = settings.database_pool_size, settings.database_pooler
        engine = make_engine(settings.resolved_database_url(), pool_size=size, pooler=pooler)
        if require_current_schema:
            check_schema(engine)
        if settings.production:
            check_database_role(engine)
        keystore = KeyStore(
            make_engine(settings.resolved_keystore_url(), pool_size=size, pooler=pooler),
            load_key_ring(settings),
            cache_size=settings.dek_cache_size,
            reload_ring=lambda: load_key_ring(settings),  # picks up `cdp keys rotate` while running
        )
        keystore.ensure_schema()
        return cls(settings, engine, keystore, keystore.blind_indexer(), RateTable.load())

    def session(self) -> Session:
        # The store rides along so that what happens after a commit (audit checkpoints) can reach the key store.
        return Session(self.engine, expire_on_commit=False, info={"cdp_store": self})

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The door's unit of work. Services take the session and never commit; the door commits here, after
        the data keys the work created are durable in the key store (a crash in between leaves an unused key,
        never data without its key). Any error rolls both back."""
        session = self.session()
        try:
            yield session
            self.keystore.flush()
            session.commit()
        except BaseException:
            session.rollback()
            self.keystore.discard_pending()
            raise
        finally:
            session.close()

    def run(self, work: Callable[[Session], T], *, attempts: int = 1) -> T:
        """`work` in one transaction, run again from scratch when a concurrent writer won a unique-constraint
        race or changed a row this work decided on (the next attempt sees the other writer's rows)."""
        attempt = 1
        while True:
            try:
                with self.transaction() as session:
                    return work(session)
            except (IntegrityError, OperationalError, ConcurrentWrite):
                if attempt >= attempts:
                    raise
                attempt += 1

    def run_until(self, work: Callable[[Session], T], finished: Callable[[T], bool]) -> T:
        """`work` again, each time in a transaction of its own, until `finished` says it is done: for operations
        whose steps must be committed one before the next (an erasure shreds keys only once its rows are gone)."""
        result = self.run(work)
        while not finished(result):
            result = self.run(work)
        return result

    def on_close(self, action: Callable[[], None]) -> None:
        """Run `action` when the store is closed, before its engines go (a deferred audit checkpoint)."""
        self._closing.append(action)

    def close(self) -> None:
        for action in self._closing:
            action()
        self.engine.dispose()
        self.keystore.engine.dispose()
