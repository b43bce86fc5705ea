"""Computed traits queued by a bulk import: the batches mark the customers they touch (`trait_refresh`), the
import refreshes each marked customer once before it returns, `cdp worker` drains what is left, and a customer
marked again while a drain runs stays queued. Expected figures are written by hand from the events below."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from cdp.cli.importer import import_file
from cdp.ingest.service import INGEST_ATTEMPTS, ingest
from cdp.store import Store
from cdp.traits import service as traits_service
from cdp.traits.models import ComputedTrait, TraitRefresh
from cdp.worker.loop import run_once
from tests.factories import OPERATOR, event, order


def _queued(store: Store) -> dict[str, int]:
    with store.session() as s:
        return {p: m for p, m in s.execute(select(TraitRefresh.profile_id, TraitRefresh.marks))}


def _order_count(store: Store, profile_id: str) -> int | None:
    with store.session() as s:
        row = s.get(ComputedTrait, profile_id)
        return None if row is None else row.order_count


def _ingest_queued(store: Store, *events: object) -> list[str]:
    outcomes = store.run(lambda s: ingest(s, store, OPERATOR, events, traits="queue"), attempts=INGEST_ATTEMPTS)
    return [o.profile_id for o in outcomes if o.profile_id]


def test_a_queued_batch_marks_its_customers_and_computes_nothing_yet(store: Store) -> None:
    ada, bob = {"email": "ada@example.com"}, {"email": "bob@example.com"}
    [a1, a2, b1] = _ingest_queued(store, order(ada), order(ada), event(bob))
    assert a1 == a2
    assert _queued(store) == {a1: 1, b1: 1}  # one mark per customer, not per event
    assert _order_count(store, a1) is None
    _ingest_queued(store, order(ada))
    assert _queued(store) == {a1: 2, b1: 1}  # a second batch bumps the mark


def test_the_worker_refreshes_queued_customers_once(store: Store) -> None:
    ada, bob = {"email": "ada@example.com"}, {"email": "bob@example.com"}
    [a, _, b] = _ingest_queued(store, order(ada), order(ada), event(bob))
    _ingest_queued(store, order(ada))
    report = run_once(store)
    assert report.refreshed == 2 and report.busy
    assert _queued(store) == {}
    assert _order_count(store, a) == 3
    assert _order_count(store, b) == 0
    assert run_once(store).refreshed == 0


def test_an_import_returns_with_every_customer_refreshed(store: Store, tmp_path: Path) -> None:
    """Batches of 2 lines: ada's three orders are spread over two batches, and all three are counted."""
    ada, bob = {"email": "ada@example.com"}, {"email": "bob@example.com"}
    lines = [order(ada), event(bob), order(ada), order(bob), order(ada)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    report = import_file(store, path, access=OPERATOR, batch_size=2)
    assert report.stored == 5
    assert _queued(store) == {}
    assert sorted(_order_count(store, p) for p in report.profiles) == [1, 3]  # bob: one order, ada: three


def test_a_customer_marked_again_during_a_drain_stays_queued(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The drain read ada's mark, then a batch marked her again before the drain removed it (what a batch that
    commits after the drain gathered her events looks like): her mark stays for the next drain."""
    ada = {"email": "ada@example.com"}
    [a] = _ingest_queued(store, order(ada))
    real_refresh = traits_service.refresh_for

    def refresh_then_marked_again(session, store, profile_ids, **kwargs):  # noqa: ANN001, ANN003, ANN202
        real_refresh(session, store, profile_ids, **kwargs)
        traits_service.queue_refresh(session, profile_ids)

    monkeypatch.setattr(traits_service, "refresh_for", refresh_then_marked_again)
    assert store.run(lambda s: traits_service.drain_refreshes(s, store)) == 1
    assert _queued(store) == {a: 2}
    monkeypatch.setattr(traits_service, "refresh_for", real_refresh)
    assert store.run(lambda s: traits_service.drain_refreshes(s, store)) == 1
    assert _queued(store) == {}
    assert _order_count(store, a) == 1


def test_a_drain_takes_at_most_its_limit(store: Store) -> None:
    people = [{"email": f"p{n}@example.com"} for n in range(3)]
    _ingest_queued(store, *(event(p) for p in people))
    assert store.run(lambda s: traits_service.drain_refreshes(s, store, limit=2)) == 2
    assert len(_queued(store)) == 1
    assert store.run(lambda s: traits_service.drain_refreshes(s, store, limit=2)) == 1
    assert store.run(lambda s: traits_service.drain_refreshes(s, store, limit=2)) == 0
