"""The consent package: append-only ledger, current state (one customer and many), defaults, GPC."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, create_engine, literal, select, union_all
from sqlmodel import Session, SQLModel

import consent
from consent import ledger

TABLES = [consent.ConsentRecord.__table__]
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    SQLModel.metadata.create_all(engine, tables=TABLES)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def _record(session: Session, profile_id: str = "p1", **overrides: object) -> consent.ConsentRecord:
    fields: dict = {
        "purpose": "marketing.email",
        "status": "granted",
        "legal_basis": "consent",
        "jurisdiction": "EU",
        "source": "banner",
    }
    fields.update(overrides)
    return consent.record(session, profile_id=profile_id, **fields)


def test_ledger_is_append_only_and_current_state_is_the_latest(session: Session) -> None:
    granted = _record(session, notice_version="2025-01", notice_text="We send offers by email.")
    _record(session, status="withdrawn", source="data_subject")
    _record(session, purpose="analytics", source="checkout", actor="key_storefront")
    session.commit()

    assert granted.notice_text_hash == hashlib.sha256(b"We send offers by email.").hexdigest()
    assert granted.recorded_at.tzinfo is not None
    rows = consent.history(session, ["p1"])
    assert [(r.purpose, r.status) for r in rows] == [
        ("marketing.email", "granted"),
        ("marketing.email", "withdrawn"),
        ("analytics", "granted"),
    ]
    assert rows[0].notice_version == "2025-01"
    state = consent.current_state(session, ["p1"])
    assert {purpose: r.status for purpose, r in state.items()} == {
        "marketing.email": "withdrawn",
        "analytics": "granted",
    }
    assert list(consent.current_state(session, ["p1"], ["analytics"])) == ["analytics"]
    assert consent.current_state(session, ["nobody"]) == {}
    assert consent.current_state(session, []) == {}


def test_withdrawal_is_seen_by_the_next_read(engine: Engine) -> None:
    with Session(engine) as reader, Session(engine) as writer:
        _record(writer)
        writer.commit()
        assert consent.current_state(reader, ["p1"])["marketing.email"].status == "granted"
        reader.commit()  # end the read transaction, as a request does
        _record(writer, status="withdrawn", source="api")
        writer.commit()
        assert consent.current_state(reader, ["p1"])["marketing.email"].status == "withdrawn"


def test_latest_is_by_recorded_at_then_insertion(session: Session) -> None:
    _record(session, recorded_at=T0)
    _record(session, status="denied", source="import", recorded_at=T0 - timedelta(days=30))  # older answer
    assert consent.current_state(session, ["p1"])["marketing.email"].status == "granted"
    _record(session, status="withdrawn", source="import", recorded_at=T0.astimezone(SHANGHAI))
    assert consent.current_state(session, ["p1"])["marketing.email"].status == "withdrawn"  # same instant, later
    assert [r.status for r in consent.history(session, ["p1"])] == ["denied", "granted", "withdrawn"]


def test_state_of_a_customer_spans_merged_profiles(session: Session) -> None:
    _record(session, "p1", recorded_at=T0)
    _record(session, "p2", status="withdrawn", source="api", recorded_at=T0 + timedelta(hours=1))
    _record(session, "p2", purpose="analytics", recorded_at=T0)
    _record(session, "p3", status="denied")  # another customer

    state = consent.current_state(session, ["p1", "p2"])
    assert {p: (r.profile_id, r.status) for p, r in state.items()} == {
        "marketing.email": ("p2", "withdrawn"),
        "analytics": ("p2", "granted"),
    }
    assert [r.profile_id for r in consent.history(session, ["p1", "p2"])] == ["p1", "p2", "p2"]


def test_current_states_for_many_subjects(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger, "IN_CHUNK", 2)  # force several chunks
    _record(session, "a1", recorded_at=T0)
    _record(session, "a2", status="withdrawn", source="api", recorded_at=T0 + timedelta(minutes=1))
    _record(session, "b1", recorded_at=T0)
    _record(session, "b2", status="denied", recorded_at=T0 - timedelta(minutes=1))
    _record(session, "c1", purpose="analytics")

    subjects = {"A": ["a1", "a2"], "B": ["b1", "b2"], "C": ["c1"], "D": ["d1"]}
    assert consent.current_states(session, subjects, "marketing.email") == {"A": "withdrawn", "B": "granted"}
    assert consent.current_states(session, ["a1", "b2", "c1"], "marketing.email") == {
        "a1": "granted",
        "b2": "denied",
    }
    assert consent.current_states(session, [], "marketing.email") == {}
    with pytest.raises(consent.ConsentError, match="belongs to two subjects"):
        consent.current_states(session, {"A": ["a1"], "B": ["a1"]}, "marketing.email")


def test_latest_by_group_filters_in_sql(session: Session) -> None:
    _record(session, "a1", recorded_at=T0)
    _record(session, "a2", status="withdrawn", source="api", recorded_at=T0 + timedelta(minutes=1))
    _record(session, "b1", recorded_at=T0)
    pairs = [("A", "a1"), ("A", "a2"), ("B", "b1"), ("C", "c1")]
    membership = union_all(
        *(select(literal(g).label("group_id"), literal(p).label("profile_id")) for g, p in pairs)
    ).subquery()
    latest = consent.latest_by_group("marketing.email", membership)

    rows = session.execute(select(latest.c.group_id, latest.c.status).order_by(latest.c.group_id)).all()
    assert [tuple(r) for r in rows] == [("A", "withdrawn"), ("B", "granted")]
    groups = select(membership.c.group_id).distinct().subquery()
    permitted = session.scalars(
        select(groups.c.group_id)
        .outerjoin(latest, latest.c.group_id == groups.c.group_id)
        .where(latest.c.status == "granted")
    ).all()
    assert permitted == ["B"]


@pytest.mark.parametrize(
    ("country", "region", "expected"),
    [
        ("DE", None, "EU"), ("fr", None, "EU"), ("NO", None, "EU"), ("GB", None, "UK"), ("CN", None, "CN"),
        ("BR", None, "BR"), ("JP", None, "JP"), ("US", "CA", "US-CA"), ("US", "us-ca", "US-CA"),
        ("US", "California", "US-CA"), ("US", "NY", "US"), ("US", None, "US"), ("CH", None, "OTHER"),
        (None, None, "OTHER"), ("", None, "OTHER"),
    ],
)  # fmt: skip
def test_jurisdiction_for(country: str | None, region: str | None, expected: str) -> None:
    assert consent.jurisdiction_for(country, region) == expected


def test_defaults_per_jurisdiction() -> None:
    modes = {j: consent.default_mode(j) for j in sorted(consent.JURISDICTIONS)}
    assert modes == {
        "BR": "opt_in", "CN": "opt_in", "EU": "opt_in", "JP": "opt_in", "OTHER": "opt_in", "UK": "opt_in",
        "US": "opt_out", "US-CA": "opt_out",
    }  # fmt: skip
    with pytest.raises(consent.ConsentError, match="unknown jurisdiction 'XX'"):
        consent.default_mode("XX")


@pytest.mark.parametrize(
    ("status", "jurisdiction", "requires_consent", "expected"),
    [
        (None, "EU", False, True),
        ("withdrawn", "EU", False, True),
        (None, "EU", True, False),
        (None, "CN", True, False),
        (None, "US-CA", True, True),
        ("granted", "EU", True, True),
        ("withdrawn", "US-CA", True, False),
        ("denied", "US", True, False),
        ("granted", "US-CA", True, True),
    ],
)
def test_is_permitted(status: str | None, jurisdiction: str, requires_consent: bool, expected: bool) -> None:
    assert consent.is_permitted(status, jurisdiction, requires_consent=requires_consent) is expected


def test_is_permitted_with_the_purpose_mode_overriding_the_default() -> None:
    assert consent.is_permitted(None, "US-CA", requires_consent=True, mode="opt_in") is False
    assert consent.is_permitted(None, "EU", requires_consent=True, mode="opt_out") is True
    assert consent.is_permitted("withdrawn", "US", requires_consent=True, mode="opt_out") is False


def test_gpc_opt_out_is_idempotent(session: Session) -> None:
    purposes = ["marketing.ads", "marketing.sharing"]
    _record(session, purpose="marketing.ads", jurisdiction="US-CA", source="checkout")

    added = consent.record_gpc_opt_out(session, "p1", "US-CA", purposes)
    assert [(r.purpose, r.status, r.source) for r in added] == [
        ("marketing.ads", "withdrawn", "gpc"),
        ("marketing.sharing", "withdrawn", "gpc"),
    ]
    assert consent.record_gpc_opt_out(session, "p1", "US-CA", purposes) == []
    assert len(consent.history(session, ["p1"])) == 3

    _record(session, purpose="marketing.ads", jurisdiction="US-CA", source="banner")  # opts back in
    assert [r.purpose for r in consent.record_gpc_opt_out(session, "p1", "US-CA", purposes)] == ["marketing.ads"]
    state = consent.current_state(session, ["p1"])
    assert {p: r.status for p, r in state.items()} == {
        "marketing.ads": "withdrawn",
        "marketing.sharing": "withdrawn",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"status": "maybe"}, "unknown status 'maybe': expected one of denied, granted, withdrawn"),
        ({"source": "email"}, "unknown source 'email'"),
        ({"legal_basis": "vibes"}, "unknown legal_basis 'vibes'"),
        ({"jurisdiction": "Mars"}, "unknown jurisdiction 'Mars'"),
        ({"purpose": ""}, "purpose must be a non-empty string"),
        ({"purpose": "Marketing Email"}, "is not a dotted lower-case name"),
        ({"profile_id": " "}, "profile_id must be a non-empty string"),
        ({"notice_text": ""}, "notice_text must be a non-empty string"),
        ({"recorded_at": datetime(2025, 1, 1)}, "recorded_at must be a time-zone aware datetime"),
    ],
)
def test_bad_input_is_named_and_stores_nothing(session: Session, overrides: dict, message: str) -> None:
    with pytest.raises(consent.ConsentError, match=message):
        _record(session, **overrides)
    assert consent.history(session, ["p1", " "]) == []


def test_bad_id_lists_are_refused(session: Session) -> None:
    with pytest.raises(consent.ConsentError, match="profile_ids must be a list"):
        consent.current_state(session, "p1")
    with pytest.raises(consent.ConsentError, match="sale_sharing_purposes must be a list"):
        consent.record_gpc_opt_out(session, "p1", "US-CA", "marketing.ads")
    with pytest.raises(consent.ConsentError, match="purpose 'Ads'"):
        consent.current_states(session, ["p1"], "Ads")
