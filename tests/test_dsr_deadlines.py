"""Deadline arithmetic per jurisdiction, month ends and the extension rule; and the request lifecycle."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cdp.access.gate import AccessContext
from cdp.dates import add_months
from cdp.dsr import service
from cdp.dsr.deadlines import DeadlineError, Period, due_date, extended_due_date
from cdp.store import Store
from tests import dsr_helpers as doors
from tests.dsr_helpers import OFFICER


@pytest.mark.parametrize(
    ("jurisdiction", "received", "due"),
    [
        ("EU", date(2025, 1, 31), date(2025, 2, 28)),
        ("EU", date(2024, 1, 31), date(2024, 2, 29)),  # leap year
        ("EU", date(2025, 3, 31), date(2025, 4, 30)),
        ("EU", date(2025, 12, 15), date(2026, 1, 15)),  # across the year
        ("UK", date(2025, 8, 31), date(2025, 9, 30)),
        ("US-CA", date(2025, 1, 31), date(2025, 3, 17)),  # 45 days
        ("US-CA", date(2025, 12, 20), date(2026, 2, 3)),
        ("BR", date(2025, 2, 20), date(2025, 3, 7)),  # 15 days, across February
        ("JP", date(2025, 1, 1), date(2025, 1, 15)),  # configured in policies/dsr.yaml
        ("OTHER", date(2025, 5, 31), date(2025, 6, 30)),
    ],
)
def test_due_dates(jurisdiction: str, received: date, due: date) -> None:
    assert due_date(jurisdiction, received) == due


def test_month_addition_clamps_to_the_month_end_in_both_directions() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)


def test_gdpr_extension_up_to_two_months_recorded_before_the_deadline() -> None:
    original = due_date("EU", date(2025, 1, 31))  # 28 Feb

    def extend(today: date, period: Period, reason: str = "complex request, many systems", so_far: int = 0) -> date:
        return extended_due_date(
            "EU", original_due=original, today=today, extension=period, reason=reason, extensions_so_far=so_far
        )

    assert extend(date(2025, 2, 28), Period(months=2)) == date(2025, 4, 28)
    assert extend(date(2025, 2, 10), Period(months=1)) == date(2025, 3, 28)
    with pytest.raises(DeadlineError, match="on or before"):
        extend(date(2025, 3, 1), Period(months=1))
    with pytest.raises(DeadlineError, match="at most"):
        extend(date(2025, 2, 1), Period(months=3))
    with pytest.raises(DeadlineError, match="at most"):
        extend(date(2025, 2, 1), Period(days=30))  # extensions are in the rule's unit
    with pytest.raises(DeadlineError, match="reason"):
        extend(date(2025, 2, 1), Period(months=1), reason=" ")
    with pytest.raises(DeadlineError, match="no \\(further\\) extension"):
        extend(date(2025, 2, 1), Period(months=1), so_far=1)


def test_ccpa_allows_one_45_day_extension_and_lgpd_none() -> None:
    original = due_date("US-CA", date(2025, 1, 1))
    assert original == date(2025, 2, 15)
    assert extended_due_date(
        "US-CA", original_due=original, today=original, extension=Period(days=45), reason="r", extensions_so_far=0
    ) == date(2025, 4, 1)
    with pytest.raises(DeadlineError, match="at most"):
        extended_due_date(
            "US-CA", original_due=original, today=original, extension=Period(days=46), reason="r", extensions_so_far=0
        )
    with pytest.raises(DeadlineError, match="no \\(further\\) extension"):
        extended_due_date(
            "BR", original_due=date(2025, 1, 16), today=date(2025, 1, 2), extension=Period(days=5), reason="r",
            extensions_so_far=0,
        )  # fmt: skip


def test_requests_carry_their_deadline_and_list_by_due_date(store: Store) -> None:
    received = datetime(2025, 1, 31, 23, 30, tzinfo=UTC)
    eu = doors.create_request(store, OFFICER, kind="access", source="cli", received_at=received,
                                identifiers=[service.SubjectIdentifier("email", "a@example.de", "DE")])  # fmt: skip
    br = doors.create_request(store, OFFICER, kind="erasure", source="cli", received_at=received,
                                identifiers=[service.SubjectIdentifier("email", "b@example.br", "BR")])  # fmt: skip
    assert (eu.jurisdiction, eu.due_on) == ("EU", date(2025, 2, 28))
    assert (br.jurisdiction, br.due_on) == ("BR", date(2025, 2, 15))
    assert [r.id for r in doors.list_requests(store, OFFICER)] == [br.id, eu.id]

    extended = doors.extend_deadline(store, OFFICER, eu.id, extension=Period(months=2),
                                       reason="request covers 9 years of orders", today=date(2025, 2, 27))  # fmt: skip
    assert extended.due_on == date(2025, 4, 28) and extended.original_due_on == date(2025, 2, 28)
    with pytest.raises(DeadlineError):
        doors.extend_deadline(store, OFFICER, eu.id, extension=Period(months=1), reason="again",
                                today=date(2025, 2, 27))  # fmt: skip
    refused = doors.refuse(store, OFFICER, br.id, "identity could not be verified")
    assert refused.status == "refused" and refused.refusal_reason == "identity could not be verified"
    assert [r.id for r in doors.list_requests(store, OFFICER, status="received")] == [eu.id]
    with pytest.raises(PermissionError):
        doors.list_requests(store, AccessContext.operator("marketing"))
