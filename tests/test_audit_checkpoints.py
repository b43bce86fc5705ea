"""Spaced audit checkpoints (CDP_AUDIT_CHECKPOINT_SECONDS, default 1 s): the first audited commit of a process is
checkpointed at once, later ones within the interval are deferred to a timer, to the store's closing (the server's
shutdown) or to the process's exit. What a spaced checkpoint still proves: a log cut short is detected up to the
newest checkpoint, and not beyond it (docs/robustness.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

import audit as audit_lib
from cdp.access import checkpoints
from cdp.access.audit import audit_now
from cdp.access.gate import AccessContext
from cdp.api.app import create_app
from cdp.auth.service import create_api_key
from cdp.crypto.keystore import audit_checkpoint
from cdp.settings import Settings
from cdp.store import Store
from tests.factories import event, ingest_all

HOUR = 3600.0  # an interval no test outlasts: whatever is checkpointed within it was not the timer's doing
OPERATOR = AccessContext.operator("order_fulfillment")


def _commit(store: Store, n: int = 1) -> None:
    for _ in range(n):
        audit_now(store, OPERATOR, operation="test", document="spaced", outcome="allowed")


def _checkpointed(store: Store) -> list[int]:
    with store.keystore.engine.connect() as conn:
        return list(conn.execute(select(audit_checkpoint.c.seq).order_by(audit_checkpoint.c.id)).scalars())


def _head(store: Store) -> tuple[int, str] | None:
    with store.session() as session:
        return audit_lib.head(session)


def _cut(store: Store, *, after: int) -> None:
    """What the data database's owner can do: switch the append-only guard off and delete the log's end."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        conn.execute(text("DELETE FROM audit_entry WHERE seq > :after"), {"after": after})


def _spaced(settings: Settings, seconds: float = HOUR) -> Store:
    return Store.open(settings.model_copy(update={"audit_checkpoint_seconds": seconds}))


def test_the_default_spaces_checkpoints_by_one_second() -> None:
    assert Settings.model_fields["audit_checkpoint_seconds"].default == 1.0


def test_commits_inside_the_interval_are_checkpointed_when_the_store_closes(settings: Settings) -> None:
    store = _spaced(settings)
    _commit(store, 4)
    assert _checkpointed(store) == [1]  # the first commit at once, the three after it deferred
    head = _head(store)
    store.close()
    assert _checkpointed(store) == [1, 4]
    assert head is not None and head[0] == 4


def test_a_cut_tail_is_detected_up_to_the_newest_checkpoint_and_not_beyond(settings: Settings) -> None:
    first = _spaced(settings)
    _commit(first, 3)
    first.close()  # checkpoint at entry 3
    store = _spaced(settings)
    _commit(store, 2)  # entry 4 is checkpointed at once (this store's first commit), entry 5 deferred
    assert _checkpointed(store) == [1, 3, 4]
    _cut(store, after=4)
    result, anchor = checkpoints.verify_log(store)
    assert result.ok and anchor is not None and anchor.seq == 4  # entry 5 was inside the window: unnoticed
    _cut(store, after=2)
    result, _ = checkpoints.verify_log(store)
    assert not result.ok and result.reason == "anchor: entry 4 missing (log ends at seq 2): tail deleted"
    store.close()


class _Timers:
    """Stands in for threading.Timer: records what would run and when, and runs it on demand."""

    def __init__(self) -> None:
        self.made: list[tuple[float, Callable[..., None], tuple[Any, ...]]] = []

    def __call__(self, wait: float, function: Callable[..., None], args: tuple[Any, ...]) -> _Timers:
        self.made.append((wait, function, args))
        return self

    daemon = True

    def start(self) -> None:
        pass

    def cancel(self) -> None:
        pass

    def fire(self) -> None:
        _, function, args = self.made[-1]
        function(*args)


def test_a_deferred_checkpoint_is_written_when_the_interval_has_passed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers = _Timers()
    monkeypatch.setattr(checkpoints.threading, "Timer", timers)
    store = _spaced(settings, 30.0)
    _commit(store, 3)
    assert _checkpointed(store) == [1]
    assert len(timers.made) == 1 and 0 < timers.made[0][0] <= 30.0  # one timer for the deferred commits
    timers.fire()
    assert _checkpointed(store) == [1, 3] and _head(store) == (3, _head(store)[1])  # type: ignore[index]
    store.close()
    assert _checkpointed(store) == [1, 3]  # nothing left to write at shutdown


def test_the_server_checkpoints_what_it_deferred_when_it_shuts_down(settings: Settings) -> None:
    store = _spaced(settings)
    with store.session() as session:
        _, key = create_api_key(session, name="spaced", role="admin")
        session.commit()
    ingest_all(store, event({"email": "spaced@example.com"}))  # entry 1, checkpointed at once
    headers = {"Authorization": f"Bearer {key}", "X-CDP-Purpose": "support"}
    lookup = {"query": '{ profileByIdentifier(kind: email, value: "spaced@example.com") { id email } }'}
    with TestClient(create_app(store)) as client:
        for _ in range(3):  # entries 2-4, deferred
            response = client.post("/graphql", json=lookup, headers=headers).json()
            assert response["data"]["profileByIdentifier"]["email"] == "spaced@example.com", response
        assert _checkpointed(store) == [1]
    assert _checkpointed(store) == [1, 4]
    store.close()


def test_a_process_that_exits_without_closing_its_store_checkpoints_on_exit(settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env |= {"CDP_DATA_DIR": str(settings.data_dir), "CDP_DATABASE_URL": settings.database_url,
            "CDP_KEYSTORE_URL": settings.keystore_url, "CDP_MASTER_KEY": settings.master_key,
            "CDP_AUDIT_CHECKPOINT_SECONDS": str(HOUR)}  # fmt: skip
    program = (
        "from cdp.store import Store\n"
        "from tests.test_audit_checkpoints import _checkpointed, _commit\n"
        "store = Store.open()\n"
        "_commit(store, 3)\n"
        "assert _checkpointed(store) == [1], _checkpointed(store)\n"
    )
    subprocess.run([sys.executable, "-c", program], env=env, check=True, timeout=120)  # noqa: S603
    store = Store.open(settings)
    assert _checkpointed(store) == [1, 3]
    store.close()
