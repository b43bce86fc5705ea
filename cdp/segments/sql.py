"""SQL building blocks shared by evaluation, member lists, exports and aggregates: merge groups, and who may
be processed for a purpose (erasure, restriction and consent decided inside the query, by the same rules as
`cdp.access.gate.consent_block`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, and_, func, or_, select, true
from sqlmodel import col

from cdp.access.gate import RESTRICTED_PURPOSES
from cdp.db import table_of
from cdp.identity.models import Profile
from consent.models import ConsentRecord
from policies.purposes import Purposes

_C = table_of(ConsentRecord).c


def groups_cte() -> CTE:
    """(group_id, profile_id) for every profile: the root of its merge group, through chains of merges."""
    roots: Select[str, str] = select(col(Profile.id).label("group_id"), col(Profile.id).label("profile_id")).where(
        col(Profile.merged_into).is_(None)
    )
    cte = roots.cte("merge_groups", recursive=True)
    child = select(cte.c.group_id, col(Profile.id)).join(cte, col(Profile.merged_into) == cte.c.profile_id)
    return cte.union_all(child)


class Permissions:
    """Per purpose, a condition on `Profile` (a root) that holds when the customer may be processed for it.
    Each purpose adds one outer-joined subquery: the newest consent record on the purpose or any ancestor,
    across the group; without one, the purpose's mode for the customer's jurisdiction decides."""

    def __init__(self, purposes: Purposes, groups: CTE) -> None:
        self.purposes, self.groups = purposes, groups
        self.joins: list[Any] = []

    def __call__(self, purpose: str) -> ColumnElement[bool]:
        chain = [purpose, *self.purposes.ancestors(purpose)]
        modes = {j: self.purposes.consent_mode(purpose, j) for j in self.purposes.jurisdictions}
        strictest = self.purposes.consent_mode(purpose, None)
        rank = func.row_number().over(
            partition_by=self.groups.c.group_id, order_by=(_C.recorded_at.desc(), _C.seq.desc())
        )
        ranked = (
            select(self.groups.c.group_id, _C.status, rank.label("rank"))
            .join(ConsentRecord, _C.profile_id == self.groups.c.profile_id)
            .where(_C.purpose.in_(chain))
            .subquery()
        )
        latest = select(ranked.c.group_id, ranked.c.status).where(ranked.c.rank == 1).subquery()
        self.joins.append(latest)
        known = list(modes)

        def jurisdictions_in(mode: str) -> ColumnElement[bool]:
            listed = col(Profile.jurisdiction).in_([j for j, m in modes.items() if m == mode])
            return or_(listed, col(Profile.jurisdiction).not_in(known)) if strictest == mode else listed

        return or_(
            jurisdictions_in("none"),
            latest.c.status == "granted",
            and_(latest.c.status.is_(None), jurisdictions_in("opt_out")),
        )

    def join_to(self, query: Any) -> Any:
        for latest in self.joins:
            query = query.outerjoin(latest, latest.c.group_id == col(Profile.id))
        return query


def cross_border(permitted: Permissions, destination_country: str) -> ColumnElement[bool]:
    """PIPL art. 39: a China-resident customer leaves China only with the separate cross-border consent."""
    if destination_country.upper() == "CN":
        return true()
    return or_(col(Profile.jurisdiction) != "CN", permitted("cross_border_transfer"))


def processable(purpose: str) -> ColumnElement[bool]:
    """Not erased, and not restricted unless the purpose is one a restriction still allows."""
    if purpose in RESTRICTED_PURPOSES:
        return col(Profile.status) != "erased"
    return col(Profile.status) == "active"
