"""Segments on SQLite and PostgreSQL: the condition language, membership with entry and exit times, audiences
filtered in SQL (consent, restriction, erasure, cross-border), fields by role and purpose, the export's one
audit entry, and aggregates with a privacy floor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from audit.models import AuditEntry
from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.consents.service import record_consent
from cdp.identity.groups import load_group
from cdp.identity.models import Profile
from cdp.segments import aggregates, audience, service
from cdp.segments.language import SegmentError, parse
from cdp.segments.models import SegmentMembership
from cdp.store import Store
from cdp.traits.service import compute_all
from policies.errors import AccessDenied
from tests import dsr_helpers as doors
from tests.dsr_helpers import OFFICER, verified_request
from tests.factories import ingest_all, order

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
OPERATOR = AccessContext.operator("marketing.email")
BUYERS = {"name": "buyers", "where": {"field": "order_count", "op": "gte", "value": 1}}


def marketing(purpose: str, role: str = "marketing_tool") -> AccessContext:
    return AccessContext.for_principal(Principal(f"key-{role}", role, role), purpose)


def _customer(store: Store, email: str, lives_in: str, *, orders: int = 1, **traits: str) -> str:
    ids = ingest_all(
        store,
        *(order({"email": email}, total="20.00", currency="USD", country=lives_in, traits={"first_name": "Kim",
                                                                                        **traits},
                occurred_at=(AS_OF - timedelta(days=5 + 40 * n)).isoformat()) for n in range(orders)),
    )  # fmt: skip
    return ids[0].profile_id


def _consent(store: Store, profile_id: str, purpose: str, status: str, minutes: int = 0) -> None:
    with store.session() as s:
        record_consent(s, OPERATOR, profile_id=profile_id, purpose=purpose, status=status, source="import",
                       recorded_at=AS_OF + timedelta(minutes=minutes))  # fmt: skip
        s.commit()


def _define(store: Store, definition: dict, access: AccessContext = OPERATOR, as_of: datetime = AS_OF) -> None:
    with store.session() as s:
        segment = service.create_segment(s, access, parse(definition))
        service.evaluate_segment(s, access, segment.name, as_of=as_of)
        s.commit()


def _members(store: Store, access: AccessContext, name: str = "buyers", country: str = "DE", **kw) -> list[str]:
    with store.session() as s:
        _, members = audience.member_page(s, store, access, name, destination_country=country, first=100, **kw)
        count = audience.member_count(s, access, name, destination_country=country)
    assert kw or count == len(members)  # the size is what the purpose may reach, never more
    return [m.profile_id for m in members]


@dataclass
class Crowd:
    eu_granted: str
    eu_silent: str
    eu_parent_objection: str
    us_silent: str
    us_withdrawn: str
    restricted: str
    erased: str
    cn_granted: str


@pytest.fixture
def crowd(store: Store) -> Crowd:
    c = Crowd(
        eu_granted=_customer(store, "a@example.de", "DE"),
        eu_silent=_customer(store, "b@example.de", "DE"),
        eu_parent_objection=_customer(store, "c@example.de", "DE"),
        us_silent=_customer(store, "d@example.com", "US"),
        us_withdrawn=_customer(store, "e@example.com", "US"),
        restricted=_customer(store, "f@example.de", "DE"),
        erased=_customer(store, "g@example.de", "DE"),
        cn_granted=_customer(store, "h@example.cn", "CN"),
    )
    for pid in (c.eu_granted, c.eu_parent_objection, c.restricted, c.erased, c.cn_granted):
        _consent(store, pid, "marketing.email", "granted")
    _consent(store, c.eu_parent_objection, "marketing", "withdrawn", minutes=1)  # the newer objection wins
    _consent(store, c.us_withdrawn, "marketing.email", "withdrawn")
    _define(store, BUYERS)
    with store.session() as s:
        s.execute(update(Profile).where(Profile.id == c.restricted).values(status="restricted"))
        s.commit()
    doors.execute(store, OFFICER, verified_request(store, "erasure", c.erased).id)
    return c


def test_definition_errors_name_the_place_and_the_rule_not_the_value() -> None:
    cases = [
        ({"name": "x", "where": {"field": "r_score", "op": "gte", "value": 9}},
         "where.value: r_score takes whole numbers from 1 to 5"),
        ({"name": "x", "where": {"all": []}}, "where.all: a non-empty list of conditions"),
        ({"name": "x", "where": {"any": [{"field": "shoe_size", "op": "eq", "value": 1}]}},
         "where.any[0].field: unknown field"),
        ({"name": "x", "where": {"not": {"consent": "newsletter"}}}, "where.not.consent: not a purpose"),
        ({"name": "x", "where": {"events": {"type": "order", "within_days": 0, "min": 1}}},
         "where.events.within_days: a whole number of days from 1 to 3650"),
        ({"name": "x", "where": {"field": "country", "op": "eq", "value": "Lena.Schmidt@example.de" * 5}},
         "where.value: country takes text of 1 to 64 characters"),
        ({"name": "Bad Name", "where": {"field": "r_score", "op": "eq", "value": 1}}, "name: lower-case"),
    ]  # fmt: skip
    for doc, message in cases:
        with pytest.raises(SegmentError) as error:
            parse(doc)
        assert message in str(error.value)
        assert "Lena" not in str(error.value)


def test_audience_leaves_out_whoever_the_purpose_may_not_reach(store: Store, crowd: Crowd) -> None:
    """Expected by the consent rules: EU opt-in needs a grant and a newer objection to `marketing` beats it;
    US is opt-out; restricted and erased customers are never processed for marketing; a China resident is
    not sent abroad without the separate cross-border consent."""
    members = _members(store, marketing("marketing.email"), country="DE")
    assert set(members) == {crowd.eu_granted, crowd.us_silent}
    assert set(_members(store, marketing("marketing.email"), country="CN")) == {
        crowd.eu_granted, crowd.us_silent, crowd.cn_granted,
    }  # fmt: skip
    _consent(store, crowd.cn_granted, "cross_border_transfer", "granted")
    assert crowd.cn_granted in _members(store, marketing("marketing.email"), country="US")


def test_sql_filter_agrees_with_the_gate_for_every_customer(store: Store, crowd: Crowd) -> None:
    """The per-read decision (AccessContext.blocked_reason) is the oracle for the in-query filter."""
    access = marketing("marketing.email")
    members = set(_members(store, access, country="CN"))  # same country: no cross-border rule
    with store.session() as s:
        roots = s.execute(select(Profile.id).where(Profile.merged_into.is_(None))).scalars().all()
        allowed = {r for r in roots if access.blocked_reason(s, load_group(s, r)) is None}
    assert members == allowed


def test_membership_keeps_entry_and_exit_times(store: Store) -> None:
    one, two = _customer(store, "one@example.com", "US"), _customer(store, "two@example.com", "US")
    single = {"name": "single-order", "where": {"field": "order_count", "op": "eq", "value": 1}}
    _define(store, single, as_of=AS_OF)
    later = AS_OF + timedelta(days=1)
    ingest_all(store, order({"email": "one@example.com"}, country="US", total="5", currency="USD"))
    three = _customer(store, "three@example.com", "US")
    with store.session() as s:
        evaluation = service.evaluate_segment(s, OPERATOR, "single-order", as_of=later)
        s.commit()
    assert (evaluation.members, evaluation.entered, evaluation.exited) == (2, 1, 1)
    with store.session() as s:
        rows = s.execute(
            select(SegmentMembership.profile_id, SegmentMembership.entered_at, SegmentMembership.exited_at)
        )
        stays = {pid: (entered, exited) for pid, entered, exited in rows}
    assert stays == {one: (AS_OF, later), two: (AS_OF, None), three: (later, None)}
    access = marketing("marketing.email")
    assert _members(store, access, "single-order", country="US", since=later) == [three]
    assert set(_members(store, access, "single-order", country="US")) == {two, three}


def test_conditions_over_traits_events_and_consent(store: Store) -> None:
    loyal = _customer(store, "loyal@example.com", "US", orders=3, language="de-AT", birthday="1990-06-20")
    once = _customer(store, "once@example.com", "US", language="en")
    with store.session() as s:
        compute_all(s, store, AccessContext.operator("analytics"), as_of=AS_OF)
        s.commit()
    _consent(store, once, "marketing.email", "withdrawn")
    definition = {"name": "german-repeat", "where": {"all": [
        {"field": "language", "op": "in", "value": ["de"]},
        {"events": {"type": "order", "within_days": 60, "min": 2}},
        {"field": "birth_month", "op": "eq", "value": "current_month"},
        {"not": {"field": "lifecycle_stage", "op": "eq", "value": "churned"}},
    ]}}  # fmt: skip
    _define(store, definition)  # AS_OF is in June: loyal's birth month
    assert _members(store, marketing("marketing.email"), "german-repeat", country="US") == [loyal]
    _define(store, {"name": "opted-out", "where": {"not": {"consent": "marketing.email"}}})
    with store.session() as s:
        open_rows = s.execute(select(SegmentMembership.profile_id).where(SegmentMembership.segment_name == "opted-out"))
        assert list(open_rows.scalars()) == [once]


def test_fields_follow_role_and_purpose(store: Store, crowd: Crowd) -> None:
    email = marketing("marketing.email")
    with store.session() as s:
        _, [member, *_] = audience.member_page(s, store, email, "buyers", destination_country="DE", first=1)
    assert member.fields["email"] in {"a@example.de", "d@example.com"}
    ads = marketing("marketing.ads")
    with store.session() as s:
        _, members = audience.member_page(s, store, ads, "buyers", destination_country="DE", first=10)
        assert members and all("email" not in m.fields for m in members)
        with pytest.raises(AccessDenied, match="user.contact.email"):
            audience.member_page(s, store, ads, "buyers", destination_country="DE", first=10, fields=["email"])


def test_export_has_exportable_fields_and_one_audit_entry(store: Store, crowd: Crowd) -> None:
    access = marketing("marketing.email")
    with store.session() as s:
        export = audience.export_segment(s, store, access, "buyers", destination_country="DE")
        s.commit()
    # Scores and preferences leave; amounts and predictions (user.derived.value: read only) do not.
    assert export.fields == [
        "email", "first_name", "country", "language", "utc_offset_minutes", "currency", "order_count", "r_score",
        "f_score", "m_score", "clv_tier", "lifecycle_stage", "timezone",
    ]  # fmt: skip
    assert {m.profile_id for m in export.members} == {crowd.eu_granted, crowd.us_silent}
    assert {m.fields["email"] for m in export.members} == {"a@example.de", "d@example.com"}
    with store.session() as s:
        [entry] = s.execute(select(AuditEntry).where(AuditEntry.operation == "segment.export")).scalars()
    assert set(entry.subject_id_list) == {crowd.eu_granted, crowd.us_silent}
    assert "2 members" in entry.detail and "fields: id, entered_at, email, first_name" in entry.detail
    assert entry.role == "marketing_tool" and entry.purpose == "marketing.email"


def test_definitions_are_versioned_and_need_the_categories_they_select_on(store: Store) -> None:
    with store.session() as s:
        first = service.create_segment(s, OPERATOR, parse(BUYERS))
        same = service.create_segment(s, OPERATOR, parse(BUYERS))
        changed = service.create_segment(s, OPERATOR, parse({**BUYERS, "where": {**BUYERS["where"], "value": 2}}))
        assert (first.version, same.id, changed.version) == (1, first.id, 2)
        assert [r.version for r in service.list_segments(s, OPERATOR)] == [2]
        birthday = parse({"name": "bday", "where": {"field": "birth_month", "op": "eq", "value": "current_month"}})
        with pytest.raises(AccessDenied, match="user.demographic.birth_month"):
            service.create_segment(s, marketing("marketing.ads"), birthday)
        with pytest.raises(AccessDenied, match="system.segment"):
            service.create_segment(s, marketing("support", role="support_agent"), parse(BUYERS))


def test_aggregates_leave_out_groups_below_k(store: Store) -> None:
    for i in range(12):
        _customer(store, f"us{i}@example.com", "US", orders=2 if i < 6 else 1, country="US")
    for i in range(3):
        _customer(store, f"mx{i}@example.com", "US", country="MX")
    with store.session() as s:
        compute_all(s, store, AccessContext.operator("analytics"), as_of=AS_OF)
        s.commit()
    analyst = marketing("analytics", role="analyst")
    with store.session() as s:
        [us] = aggregates.aggregates(s, store, analyst, "country")
        assert [r.group for r in aggregates.aggregates(s, store, analyst, "country", k=15)] == []
        with pytest.raises(ValueError, match="k: at least 10"):
            aggregates.aggregates(s, store, analyst, "country", k=2)
        with pytest.raises(AccessDenied):
            aggregates.aggregates(s, store, marketing("support", role="support_agent"), "country")
    # 6 customers with two $20 orders, 6 with one: 18 orders, $360.
    assert (us.group, us.customers, us.repeat_purchase_rate) == ("US", 12, 0.5)
    assert (us.aov_minor, us.historic_clv_minor, us.currency) == (2000, 3000, "USD")
