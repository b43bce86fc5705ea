"""RFM quintiles and lifecycle stages against hand-written expectation tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdp.traits.scoring import breakpoints, lifecycle_stage, quintile

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


def test_quintiles_of_ten_customers() -> None:
    """Spend 1..10: the 20/40/60/80th percentiles are 2.8, 4.6, 6.4, 8.2, so two customers per score."""
    cuts = breakpoints(list(range(1, 11)))
    assert cuts == pytest.approx([2.8, 4.6, 6.4, 8.2])
    assert [quintile(v, cuts) for v in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # Recency: fewer days since the last order is better.
    assert [quintile(v, cuts, lower_is_better=True) for v in range(1, 11)] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_ties_share_a_score_and_no_population_means_no_score() -> None:
    cuts = breakpoints([1, 1, 1, 1, 1, 1, 2, 3, 5, 8])  # most customers ordered once
    assert {quintile(1, cuts)} == {1}
    assert quintile(8, cuts) == 5
    assert quintile(3, []) is None


def _days_ago(*days: int) -> list[datetime]:
    return [AS_OF - timedelta(days=d) for d in days]


@pytest.mark.parametrize(
    ("orders", "last_activity_days_ago", "stage"),
    [
        ([], 1, None),  # never ordered
        (_days_ago(10), 10, "new"),  # first order within 30 days
        (_days_ago(50, 10), 10, "active"),  # bought again within the 60-day gap
        (_days_ago(45, 20, 10), 10, "active"),
        (_days_ago(40), 40, "at_risk"),  # 30 days without any event
        (_days_ago(40), 5, "active"),  # a recent visit keeps an old buyer active
        (_days_ago(70), 70, "churned"),  # 60 days without any event
        (_days_ago(200, 5), 5, "won_back"),  # back after a 195-day gap, within 30 days
        (_days_ago(200, 50), 50, "at_risk"),  # came back once, quiet again
    ],
)
def test_lifecycle_stage_with_30_day_churn_window(
    orders: list[datetime], last_activity_days_ago: int, stage: str | None
) -> None:
    last = AS_OF - timedelta(days=last_activity_days_ago)
    assert lifecycle_stage(orders, last, AS_OF, churn_days=30) == stage


def test_churn_window_is_configurable() -> None:
    orders = _days_ago(40)
    assert lifecycle_stage(orders, orders[0], AS_OF, churn_days=30) == "at_risk"
    assert lifecycle_stage(orders, orders[0], AS_OF, churn_days=90) == "new"
