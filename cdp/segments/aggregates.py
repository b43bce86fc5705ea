"""Marketing aggregates with a privacy floor: repeat-purchase rate, AOV, historic and predicted CLV and churn
rate per country, acquisition channel, segment or first-order month, over the customers the request's
purpose may reach. A group of fewer than k customers is left out entirely (not rounded, not merged)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlmodel import Session, col

from cdp.access.gate import AccessContext
from cdp.dictionary import dictionary
from cdp.identity.models import Profile
from cdp.segments.models import SegmentMembership
from cdp.segments.service import SEGMENT_CATEGORY
from cdp.segments.sql import Permissions, groups_cte, processable
from cdp.store import Store
from cdp.traits.models import ComputedTrait
from cdp.traits.settings import get_trait_settings

DIMENSIONS = {"country": col(ComputedTrait.country), "channel": col(ComputedTrait.channel),
              "month": col(ComputedTrait.cohort_month), "segment": col(SegmentMembership.segment_name)}  # fmt: skip


@dataclass(frozen=True)
class Aggregate:
    group: str
    customers: int
    repeat_purchase_rate: float
    aov_minor: int
    historic_clv_minor: int  # mean per customer
    predicted_clv_12m_minor: int | None  # mean over customers with a prediction
    churn_rate: float
    currency: str


def _dimension_category(by: str) -> str:
    computed = dictionary().computed
    return {"country": computed["country"].category, "channel": computed["channel"].category,
            "month": computed["cohort_month"].category, "segment": SEGMENT_CATEGORY}[by]  # fmt: skip


def aggregates(
    session: Session, store: Store, access: AccessContext, by: str, *, k: int | None = None
) -> list[Aggregate]:
    if by not in DIMENSIONS:
        raise ValueError(f"by: one of {', '.join(DIMENSIONS)}")
    floor = get_trait_settings().privacy_k
    k = floor if k is None else k
    if k < floor:
        raise ValueError(f"k: at least {floor} (the configured privacy floor)")
    access.forbid_subject_tokens()
    for category in (_dimension_category(by), "user.derived.scores", "user.derived.value"):
        access.require(category, field=f"aggregates(by: {by})")
    permitted = Permissions(access.purposes, groups_cte())
    query = select(DIMENSIONS[by], col(ComputedTrait.profile_id), col(ComputedTrait.order_count),
                   col(ComputedTrait.lifecycle_stage), col(ComputedTrait.values_ct)).join(
        Profile, col(Profile.id) == col(ComputedTrait.profile_id))  # fmt: skip
    if by == "segment":
        query = query.join(
            SegmentMembership,
            and_(col(SegmentMembership.profile_id) == col(Profile.id), col(SegmentMembership.exited_at).is_(None)),
        )
    reachable = and_(processable(access.purpose), permitted(access.purpose))
    query = permitted.join_to(query).where(
        col(Profile.merged_into).is_(None), col(ComputedTrait.order_count) > 0, DIMENSIONS[by].is_not(None), reachable
    )
    groups: dict[str, list[tuple[int, str | None, dict]]] = defaultdict(list)
    for group, pid, orders, stage, blob in session.execute(query):
        values = json.loads(store.keystore.decrypt(pid, "computed_trait", "values", pid, blob))
        groups[group].append((orders, stage, values))
    return [_summary(group, rows, store.settings.base_currency) for group, rows in sorted(groups.items())
            if len(rows) >= k]  # fmt: skip


def _summary(group: str, rows: list[tuple[int, str | None, dict]], currency: str) -> Aggregate:
    n = len(rows)
    orders = sum(o for o, _, _ in rows)
    spend = sum(v["historic_clv_minor"] for _, _, v in rows)
    predicted = [v["predicted_clv_12m_minor"] for _, _, v in rows if v["predicted_clv_12m_minor"] is not None]
    return Aggregate(
        group=group,
        customers=n,
        repeat_purchase_rate=sum(1 for o, _, _ in rows if o >= 2) / n,
        aov_minor=round(spend / orders),
        historic_clv_minor=round(spend / n),
        predicted_clv_12m_minor=round(sum(predicted) / len(predicted)) if predicted else None,
        churn_rate=sum(1 for _, s, _ in rows if s == "churned") / n,
        currency=currency,
    )
