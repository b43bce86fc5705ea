"""Retention per data category (policies/retention.yaml): dry run reports, a run deletes and audits."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

import audit
from cdp.access.gate import AccessContext
from cdp.crypto.cipher import DecryptionError
from cdp.events.models import Event
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
    report = store.run(lambda s: run_retention(s, store, OPERATOR, dry_run=False, today=TODAY))
    assert report.expired == 1 and report.hold_keys_shredded == 1
    with pytest.raises(DecryptionError):
        store.keystore.key_for_profile(hold_key_owner(held.profile_id))
