"""RFM quintile scores and the lifecycle stage: pure functions over one customer's history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

STAGES = ("new", "active", "at_risk", "churned", "won_back")


def breakpoints(values: Sequence[float]) -> list[float]:
    """The 20/40/60/80th percentiles (linear interpolation) of the seller's customers."""
    if not values:
        return []
    return [float(q) for q in np.quantile(np.asarray(values, dtype=float), [0.2, 0.4, 0.6, 0.8])]


def quintile(value: float, cuts: Sequence[float], *, lower_is_better: bool = False) -> int | None:
    """1-5: one more than the number of breakpoints strictly below the value (5 = best 20%). Recency is
    scored with lower_is_better (fewer days since the last order is better)."""
    if not cuts:
        return None
    above = sum(1 for c in cuts if c < value)
    return 5 - above if lower_is_better else 1 + above


def lifecycle_stage(
    orders: Sequence[datetime], last_activity: datetime, as_of: datetime, churn_days: int
) -> str | None:
    """None without orders. No event of any kind for 2N days: churned; for N days: at_risk. Otherwise:
    won_back when the latest order, within N days, ended a gap of 2N days or more since the one before;
    new when the first order is within N days; else active."""
    if not orders:
        return None
    window, churn = timedelta(days=churn_days), timedelta(days=2 * churn_days)
    times = sorted(orders)
    inactive = as_of - max(last_activity, times[-1])
    if inactive >= churn:
        return "churned"
    if inactive >= window:
        return "at_risk"
    if len(times) > 1 and times[-1] - times[-2] >= churn and as_of - times[-1] < window:
        return "won_back"
    return "new" if as_of - times[0] < window else "active"
