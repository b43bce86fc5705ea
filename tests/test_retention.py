"""Retention per data category (policies/retention.yaml): dry run reports, a run deletes and audits."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select

import audit
from cdp.access.gate import AccessContext
from cdp.crypto.cipher import DecryptionError
from cdp.events.models import Event
from cdp.events.partitions import ensure_partitions, partition_months
from cdp.retention.policy import hold_key_owner
from cdp.retention.service import run_retention
from cdp.store import Store
from tests import dsr_helpers as doors
from tests.dsr_helpers import OFFICER, verified_request
from tests.factories import event, ingest_all, order

TODAY = date(2026, 3, 1)
OPERATOR = AccessContext.operator("legal_compliance")


def _seed(store: Store) -> None:
    ids = {"email": "ret@example.com"}
    ingest_all(
        store,
        event(ids, type="page_view", occurred_at="2025-08-01T10:00:00+00:00", source_event_id="old-view"),
        event(ids, type="page_view", occurred_at="2026-02-01T10:00:00+00:00", source_event_id="new-view"),
        event(ids, type="ticket", occurred_at="2023-06-01T10:00:00+00:00", source_event_id="old-ticket"),
        event(ids, type="ticket", occurred_at="2025-06-01T10:00:00+00:00", source_event_id="new-ticket"),
        order(ids, occurred_at="2022-01-01T10:00:00+00:00", source_event_id="old-order"),
    )


def _remaining(store: Store) -> set[str]:
    with store.session() as s:
        return set(s.execute(select(Event.source_event_id)).scalars())


def _retention_entries(store: Store) -> list[list[str]]:
    with store.session() as s:
        query = select(audit.AuditEntry).where(audit.AuditEntry.operation == "retention:delete")
        return [e.category_list for e in s.scalars(query.order_by(audit.AuditEntry.seq))]


def test_dry_run_reports_and_deletes_nothing(store: Store) -> None:
    _seed(store)
    report = store.run(lambda s: run_retention(s, store, OPERATOR, dry_run=True, today=TODAY))
    by_category = {c.category: c.expired for c in report.categories}
    assert by_category["user.behavior.browsing"] == 1  # 180 days
    assert by_category["user.content.support"] == 1  # 2 years
    assert by_category["user.behavior.purchase"] == 0  # 7 years
    assert len(_remaining(store)) == 5
    assert _retention_entries(store) == []


def test_run_deletes_what_expired_and_audits_it(store: Store) -> None:
    _seed(store)
    report = store.run(lambda s: run_retention(s, store, OPERATOR, dry_run=False, today=TODAY))
    assert report.expired == 2
    assert _remaining(store) == {"new-view", "new-ticket", "old-order"}
    assert _retention_entries(store) == [["user.behavior.browsing"], ["user.content.support"]]
    with store.session() as s:
        assert audit.verify(s).ok
    assert store.run(lambda s: run_retention(s, store, OPERATOR, dry_run=False, today=TODAY)).expired == 0


def test_held_order_of_an_erased_subject_expires_and_its_hold_key_is_shredded(store: Store) -> None:
    [held] = ingest_all(store, order({"email": "gone@example.com"}, occurred_at="2018-01-01T10:00:00+00:00"))
    doors.execute(store, OFFICER, verified_request(store, "erasure", held.profile_id).id)
    store.keystore.key_for_profile(hold_key_owner(held.profile_id))  # the hold key exists
    store.run(lambda s: ensure_partitions(s, TODAY))  # PostgreSQL: the held order's month gets its partition
    report = store.run(lambda s: run_retention(s, store, OPERATOR, dry_run=False, today=TODAY))
    assert report.expired == 1 and report.hold_keys_shredded == 1
    assert report.months_dropped == ([date(2018, 1, 1)] if _partitioned(store) else [])
    with pytest.raises(DecryptionError):
        store.keystore.key_for_profile(hold_key_owner(held.profile_id))


def _partitioned(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


def _audited_rows(store: Store) -> Counter[str]:
    """Rows deleted per category, summed over the retention audit entries ("N expired event(s): ...")."""
    rows: Counter[str] = Counter()
    with store.session() as s:
        query = select(audit.AuditEntry).where(audit.AuditEntry.operation == "retention:delete")
        for entry in s.scalars(query):
            [category] = entry.category_list
            rows[category] += int((entry.detail or "").split()[0])
    return rows


def test_a_month_in_which_every_row_expired_goes_whole_and_the_rest_row_by_row(store: Store) -> None:
    """The same rows expire on both databases; PostgreSQL drops January 2018's partition instead of deleting its
    rows, and keeps May 2019's, where an order is kept for 7 years, deleting only its expired page view."""
    ids = {"email": "months@example.com"}
    ingest_all(
        store,
        event(ids, type="page_view", occurred_at="2018-01-05T10:00:00+00:00", source_event_id="jan18-view"),
        event(ids, type="ticket", occurred_at="2018-01-20T10:00:00+00:00", source_event_id="jan18-ticket"),
        order(ids, occurred_at="2018-01-31T23:00:00+00:00", source_event_id="jan18-order"),  # expired 2025-02
        event(ids, type="page_view", occurred_at="2019-05-05T10:00:00+00:00", source_event_id="may19-view"),
        order(ids, occurred_at="2019-05-06T10:00:00+00:00", source_event_id="may19-order"),  # kept until 2026-05
        event(ids, type="page_view", occurred_at="2026-02-01T10:00:00+00:00", source_event_id="feb26-view"),
    )
    store.run(lambda s: ensure_partitions(s, TODAY))
    whole = [date(2018, 1, 1)] if _partitioned(store) else []

    dry = store.run(lambda s: run_retention(s, store, OPERATOR, dry_run=True, today=TODAY))
    assert dry.months_dropped == whole and dry.expired == 4
    assert len(_remaining(store)) == 6

    report = store.run(lambda s: run_retention(s, store, OPERATOR, dry_run=False, today=TODAY))
    assert report.months_dropped == whole and report.expired == 4
    assert _remaining(store) == {"may19-order", "feb26-view"}
    assert _audited_rows(store) == {"user.behavior.browsing": 2, "user.behavior.purchase": 1, "user.content.support": 1}
    with store.session() as s:
        assert audit.verify(s).ok
        if _partitioned(store):
            months = partition_months(s)
            assert date(2018, 1, 1) not in months and date(2019, 5, 1) in months
    # the idempotency keys went with their events: the same event sent again is new
    [again] = ingest_all(store, event(ids, type="page_view", occurred_at="2018-01-05T10:00:00+00:00",
                                      source_event_id="jan18-view"))  # fmt: skip
    assert again.status == "stored"
