"""Computed traits in the database (SQLite and PostgreSQL): full computation against hand-computed values,
incremental refresh on ingest, merge groups as one customer, encryption, access export and erasure."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.identity.groups import load_group
from cdp.identity.models import Profile
from cdp.profiles import service as profiles
from cdp.store import Store
from cdp.traits.models import ComputedTrait, TraitModel
from cdp.traits.service import compute_all, computed_traits
from policies.errors import AccessDenied
from tests import dsr_helpers as doors
from tests.dsr_helpers import OFFICER, verified_request
from tests.factories import event, ingest_all, order
from tests.reads import READER

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
ANALYTICS = AccessContext.operator("analytics")


def _ten_customers(store: Store) -> list[str]:
    """Customer i (1..10) ordered once, 3i + 0.5 days before AS_OF, for i*10 USD."""
    ids = []
    for i in range(1, 11):
        [o] = ingest_all(
            store,
            order({"email": f"c{i}@example.com"}, total=f"{i * 10}.00", currency="USD", country="US",
                  occurred_at=(AS_OF - timedelta(days=3 * i + 0.5)).isoformat(), traits={"country": "US"}),
        )  # fmt: skip
        ids.append(o.profile_id)
    return ids


def _computed(store: Store, profile_id: str):  # noqa: ANN202 - a ComputedView
    with store.session() as s:
        # as the operator for legal_compliance: the values themselves, whatever the customer's consent
        [view] = profiles.views(s, store, READER, [load_group(s, profile_id)])
        return computed_traits(s, store, READER, view, [])


def test_full_computation_scores_the_sellers_customers_in_quintiles(store: Store) -> None:
    ids = _ten_customers(store)
    with store.session() as s:
        assert compute_all(s, store, ANALYTICS, as_of=AS_OF) == 10
        s.commit()
    views = [_computed(store, pid) for pid in ids]
    assert [v.m_score for v in views] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # Customer 1 ordered most recently: the best recency.
    assert [v.r_score for v in views] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert {v.f_score for v in views} == {1}  # everyone ordered once
    first = views[0]
    assert first.order_count == 1 and first.currency == "USD" and first.country == "US"
    assert first.values["aov_minor"] == 1000 and first.values["historic_clv_minor"] == 1000
    assert first.values["recency_days"] == pytest.approx(3.5)
    assert first.lifecycle_stage == "new"  # first and only order 3.5 days before AS_OF
    assert views[8].lifecycle_stage == "new"  # 27.5 days
    assert views[9].lifecycle_stage == "at_risk"  # 30.5 days: past the 30-day churn warning
    with store.session() as s:
        assert s.execute(select(TraitModel.customers)).scalar_one() == 10


def test_ingest_refreshes_the_customer_it_touched(store: Store) -> None:
    [first] = ingest_all(
        store,
        order({"email": "ana@example.es"}, total="30.00", currency="EUR", country="ES",
              traits={"language": "es-ES", "timezone": "Europe/Madrid", "birthday": "1991-07-14"}),
    )  # fmt: skip
    view = _computed(store, first.profile_id)
    assert (view.order_count, view.language, view.birth_month) == (1, "es", 7)
    assert view.values["timezone"] == "Europe/Madrid" and view.utc_offset_minutes in (60, 120)  # CET or CEST
    ingest_all(store, order({"email": "ana@example.es"}, total="50.00", currency="EUR", country="ES"))
    view = _computed(store, first.profile_id)
    assert view.order_count == 2 and view.currency == "EUR"
    assert view.r_score is None  # no fitted population yet: scores wait for `cdp traits compute`


def test_a_merge_group_is_one_customer(store: Store) -> None:
    [by_email] = ingest_all(store, order({"email": "li@example.cn"}, country="CN", total="100", currency="CNY"))
    [by_phone] = ingest_all(store, order({"phone": "+86 138 0013 8000"}, country="CN", total="50", currency="CNY"))
    assert by_email.profile_id != by_phone.profile_id
    ingest_all(store, event({"email": "li@example.cn", "phone": "+86 138 0013 8000"}, country="CN"))
    with store.session() as s:
        group = load_group(s, by_phone.profile_id)
        rows = s.execute(select(ComputedTrait.profile_id, ComputedTrait.order_count)).all()
    assert len(group.member_ids) == 2
    assert rows == [(group.root.id, 2)]


def test_values_are_encrypted_and_scores_are_not(store: Store) -> None:
    [o] = ingest_all(store, order({"email": "xavier@example.com"}, total="123.45", currency="USD", country="US"))
    with store.session() as s:
        row = s.get(ComputedTrait, o.profile_id)
    assert row.order_count == 1
    assert b"12345" not in row.values_ct and b"historic" not in row.values_ct


def test_computing_needs_the_grant(store: Store) -> None:
    ingest_all(store, order({"email": "y@example.com"}, country="US"))
    support = AccessContext.for_principal(Principal("k", "support desk", "support_agent"), "support")
    with store.session() as s, pytest.raises(AccessDenied, match="user.derived.value"):
        compute_all(s, store, support, as_of=AS_OF)


def test_access_export_holds_computed_traits_and_erasure_removes_them(store: Store) -> None:
    [o] = ingest_all(store, order({"email": "eva@example.de"}, total="80", currency="EUR", country="DE"))
    archive = doors.execute(store, OFFICER, verified_request(store, "access", o.profile_id).id).archive
    with archive, zipfile.ZipFile(archive) as z:
        data = json.loads(z.read("data.json"))
    [row] = data["computed_traits"]
    assert row["profile_id"] == o.profile_id and row["order_count"] == 1
    assert row["values"]["historic_clv_minor"] > 0
    assert "user.derived.scores" in data["article_15"]["categories"]

    doors.execute(store, OFFICER, verified_request(store, "erasure", o.profile_id).id)
    with store.session() as s:
        assert s.get(ComputedTrait, o.profile_id) is None
        assert s.get(Profile, o.profile_id).status == "erased"
        compute_all(s, store, ANALYTICS, as_of=AS_OF)  # a full run does not bring an erased customer back
        assert s.get(ComputedTrait, o.profile_id) is None


def test_restricted_customers_get_no_computed_traits(store: Store) -> None:
    [kept] = ingest_all(store, order({"email": "kept@example.com"}, country="US"))
    [restricted] = ingest_all(store, order({"email": "restricted@example.com"}, country="US"))
    with store.session() as s:
        s.execute(update(Profile).where(Profile.id == restricted.profile_id).values(status="restricted"))
        compute_all(s, store, ANALYTICS, as_of=AS_OF)
        assert s.execute(select(ComputedTrait.profile_id)).scalars().all() == [kept.profile_id]
