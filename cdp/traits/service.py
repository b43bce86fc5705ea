"""Computing and reading computed traits.

`compute_all` recomputes every customer and refits the population model (quintile breakpoints, BG/NBD and
Gamma-Gamma parameters); `refresh_for` recomputes the customers a batch of events touched, scoring them with
the latest fitted model, so traits stay current between full runs. A bulk import queues those customers instead
(`queue_refresh`) and `drain_refreshes` recomputes them once, however many batches touched them. All take the
caller's session and never commit. Time in the CLV models is in weeks.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from cdp.access.gate import AccessContext
from cdp.db import table_of
from cdp.events.models import Event
from cdp.identity.groups import ProfileGroup
from cdp.identity.models import Profile
from cdp.ids import utcnow
from cdp.profiles.models import Trait
from cdp.profiles.service import CustomerView
from cdp.store import Store
from cdp.traits import clv
from cdp.traits.groups import CHUNK, chunks, live_roots, members_of
from cdp.traits.models import ComputedTrait, TraitModel, TraitRefresh
from cdp.traits.scoring import breakpoints, lifecycle_stage, quintile
from cdp.traits.settings import get_trait_settings

WEEK = timedelta(weeks=1)
MONETARY_WINDOW = timedelta(days=365)  # the M of RFM: spend over the last 12 months
PROFILE_TRAITS = ("country", "language", "timezone", "birthday")


@dataclass
class _History:
    """One customer's raw material, gathered over every profile of its merge group."""

    orders: list[tuple[datetime, int, str | None, str]] = field(default_factory=list)  # at, base minor, cur, source
    last_activity: datetime | None = None
    base_currency: str | None = None
    traits: dict[str, tuple[datetime, str]] = field(default_factory=dict)  # name -> (updated_at, value)


@dataclass(frozen=True)
class Model:
    """What a full run fits and an incremental refresh reuses."""

    cuts: dict[str, list[float]]
    bgnbd: clv.BgNbd | None
    gamma_gamma: clv.GammaGamma | None

    def to_json(self) -> str:
        return json.dumps(
            {
                "cuts": self.cuts,
                "bgnbd": None if self.bgnbd is None else vars(self.bgnbd),
                "gamma_gamma": None if self.gamma_gamma is None else vars(self.gamma_gamma),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Model:
        doc = json.loads(text)
        bg, gg = doc["bgnbd"], doc["gamma_gamma"]
        return cls(doc["cuts"], clv.BgNbd(**bg) if bg else None, clv.GammaGamma(**gg) if gg else None)


@dataclass(frozen=True)
class ComputedView:
    """A customer's computed traits, decrypted."""

    profile_id: str
    computed_at: datetime
    order_count: int
    r_score: int | None
    f_score: int | None
    m_score: int | None
    clv_tier: int | None
    lifecycle_stage: str | None
    country: str | None
    language: str | None
    utc_offset_minutes: int | None
    currency: str | None
    birth_month: int | None
    channel: str | None
    cohort_month: str | None
    values: dict[str, Any]


# -- gathering ---------------------------------------------------------------------------------------------
def _roots(session: Session, member_ids: list[str] | None) -> dict[str, str]:
    """profile id -> root id for every active customer (erased and restricted ones are not processed), or
    only for the merge groups of `member_ids` (batched look-ups: an ingest batch does not scan profiles)."""
    if member_ids is None:
        parent: dict[str, str | None] = {}
        inactive: set[str] = set()
        for pid, merged_into, status in session.execute(
            select(col(Profile.id), col(Profile.merged_into), col(Profile.status))
        ):
            parent[pid] = merged_into
            if status != "active":
                inactive.add(pid)

        def root(pid: str) -> str:
            while (up := parent.get(pid)) is not None:
                pid = up
            return pid

        roots = {pid: root(pid) for pid in parent}
        return {pid: r for pid, r in roots.items() if r not in inactive}
    return members_of(session, _locked_roots(session, member_ids))


def _locked_roots(session: Session, member_ids: list[str]) -> set[str]:
    """The live roots of these profiles, their rows locked until commit (PostgreSQL; SQLite has one writer at a
    time anyway): two ingest batches refreshing one customer take turns, so the second counts the first's
    committed events instead of overwriting its result with figures that miss them. A root that changed while
    this waited (a concurrent merge) is locked in turn."""
    locked: set[str] = set()
    while True:
        roots = live_roots(session, member_ids)
        waiting = sorted(roots - locked)  # one order for every writer: no deadlock between two refreshes
        if not waiting:
            return roots
        for chunk in chunks(waiting):
            session.execute(select(col(Profile.id)).where(col(Profile.id).in_(chunk)).with_for_update(key_share=True))
        locked.update(waiting)


def _gather(session: Session, store: Store, roots: dict[str, str], everyone: bool) -> dict[str, _History]:
    histories = {root: _History() for root in set(roots.values())}

    def scoped(query, column, ids):  # noqa: ANN001, ANN202 - one select, narrowed to a chunk unless everyone
        return [query] if everyone else [query.where(column.in_(chunk)) for chunk in chunks(ids)]

    ids = list(roots)
    orders = select(
        col(Event.profile_id),
        col(Event.occurred_at),
        col(Event.base_amount_minor),
        col(Event.currency),
        col(Event.source),
        col(Event.base_currency),
    ).where(col(Event.type) == "order")
    for query in scoped(orders, col(Event.profile_id), ids):
        for pid, at, amount, currency, source, base in session.execute(query):
            if pid in roots:
                history = histories[roots[pid]]
                history.orders.append((at, int(amount or 0), currency, source))
                history.base_currency = history.base_currency or base
    activity = select(col(Event.profile_id), func.max(col(Event.occurred_at))).group_by(col(Event.profile_id))
    for query in scoped(activity, col(Event.profile_id), ids):
        for pid, last in session.execute(query):
            if pid in roots:
                history = histories[roots[pid]]
                history.last_activity = max(filter(None, (history.last_activity, last)))
    traits = select(
        col(Trait.id), col(Trait.profile_id), col(Trait.name), col(Trait.value_ct), col(Trait.updated_at)
    ).where(col(Trait.name).in_(PROFILE_TRAITS))
    newest: dict[tuple[str, str], tuple[datetime, str, str, bytes]] = {}  # (root, name) -> newest row
    for query in scoped(traits, col(Trait.profile_id), ids):
        for trait_id, pid, name, blob, updated_at in session.execute(query):
            if pid in roots and ((roots[pid], name) not in newest or newest[roots[pid], name][0] <= updated_at):
                newest[roots[pid], name] = (updated_at, pid, trait_id, blob)
    rows = list(newest.items())
    for start in range(0, len(rows), CHUNK):
        batch = rows[start : start + CHUNK]
        store.keystore.prefetch(pid for _, (_, pid, _, _) in batch)
        for (root, name), (updated_at, pid, trait_id, blob) in batch:
            value = json.loads(store.keystore.decrypt(pid, "trait", "value", trait_id, blob))
            histories[root].traits[name] = (updated_at, str(value))
    return histories


# -- computing ---------------------------------------------------------------------------------------------
@dataclass
class _Stats:
    root: str
    history: _History
    order_count: int
    recency_days: float | None
    monetary: int
    x: float
    t_x: float
    T: float  # noqa: N815 - the model's name for the customer's age
    purchases: float | None = None
    p_alive: float | None = None
    predicted_clv: float | None = None


def _stats(root: str, history: _History, as_of: datetime) -> _Stats:
    orders = sorted(history.orders)
    if not orders:
        return _Stats(root, history, 0, None, 0, 0.0, 0.0, 0.0)
    first, last = orders[0][0], orders[-1][0]
    monetary = sum(amount for at, amount, _, _ in orders if as_of - at <= MONETARY_WINDOW)
    return _Stats(
        root, history, len(orders), (as_of - last) / timedelta(days=1), monetary,
        float(len(orders) - 1), (last - first) / WEEK, (as_of - first) / WEEK,
    )  # fmt: skip


def _predict(stats: list[_Stats], model: Model, horizon_weeks: float) -> None:
    buyers = [s for s in stats if s.order_count]
    if not buyers or model.bgnbd is None:
        return
    x, t_x, T = (np.array([getattr(s, k) for s in buyers]) for k in ("x", "t_x", "T"))  # noqa: N806
    with np.errstate(all="ignore"):  # a degenerate fit (tiny population) gives inf/nan: no prediction then
        purchases = clv.expected_purchases(model.bgnbd, horizon_weeks, x, t_x, T)
        alive = clv.probability_alive(model.bgnbd, x, t_x, T)
    for s, n, p in zip(buyers, purchases, alive, strict=True):
        if not (np.isfinite(n) and np.isfinite(p)):
            continue
        s.purchases, s.p_alive = float(n), float(p)
        if model.gamma_gamma is not None:
            total = sum(amount for _, amount, _, _ in s.history.orders)
            value = clv.expected_mean_value(model.gamma_gamma, s.order_count, max(total / s.order_count, 1.0))
            s.predicted_clv = float(n * value) if np.isfinite(value) else None


def _fit_model(stats: list[_Stats], horizon_weeks: float) -> Model:
    buyers = [s for s in stats if s.order_count]
    bgnbd = gamma_gamma = None
    if len(buyers) >= 10 and any(s.x > 0 for s in buyers):
        bgnbd = clv.fit_bgnbd([s.x for s in buyers], [s.t_x for s in buyers], [s.T for s in buyers])
    repeat = [s for s in buyers if s.order_count > 1]
    if len(repeat) >= 10:
        means = [max(sum(a for _, a, _, _ in s.history.orders) / s.order_count, 1.0) for s in repeat]
        gamma_gamma = clv.fit_gamma_gamma([s.order_count for s in repeat], means)
    model = Model({}, bgnbd, gamma_gamma)
    _predict(stats, model, horizon_weeks)
    cuts = {
        "recency": breakpoints([s.recency_days for s in buyers if s.recency_days is not None]),
        "frequency": breakpoints([s.order_count for s in buyers]),
        "monetary": breakpoints([s.monetary for s in buyers]),
        "clv": breakpoints([s.predicted_clv for s in buyers if s.predicted_clv is not None]),
    }
    return Model(cuts, bgnbd, gamma_gamma)


def _birth_month(value: str | None) -> int | None:
    try:
        return date.fromisoformat(value).month if value else None
    except ValueError:
        return None


def _utc_offset(timezone: str | None, as_of: datetime) -> int | None:
    try:
        offset = as_of.astimezone(ZoneInfo(timezone)).utcoffset() if timezone else None
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return None if offset is None else int(offset.total_seconds() // 60)


def _row(s: _Stats, model: Model, as_of: datetime, churn_days: int, store: Store) -> dict[str, Any]:
    history, cuts = s.history, model.cuts
    orders = sorted(history.orders)
    traits = {name: value for name, (_, value) in history.traits.items()}
    currencies = Counter(c for _, _, c, _ in orders if c)
    total = sum(amount for _, amount, _, _ in orders)
    values = {
        "recency_days": s.recency_days,
        "frequency": s.order_count,
        "monetary_minor": s.monetary,
        "aov_minor": round(total / s.order_count) if s.order_count else None,
        "historic_clv_minor": total,
        "first_order_at": orders[0][0].isoformat() if orders else None,
        "last_order_at": orders[-1][0].isoformat() if orders else None,
        "last_activity_at": history.last_activity.isoformat() if history.last_activity else None,
        "predicted_purchases_12m": s.purchases,
        "predicted_clv_12m_minor": None if s.predicted_clv is None else round(s.predicted_clv),
        "probability_alive": s.p_alive,
        "base_currency": history.base_currency,
        "timezone": traits.get("timezone"),
    }
    buyer = s.order_count > 0
    return {
        "profile_id": s.root,
        "computed_at": as_of,
        "order_count": s.order_count,
        "r_score": None
        if s.recency_days is None
        else quintile(s.recency_days, cuts.get("recency", []), lower_is_better=True),
        "f_score": quintile(s.order_count, cuts.get("frequency", [])) if buyer else None,
        "m_score": quintile(s.monetary, cuts.get("monetary", [])) if buyer else None,
        "clv_tier": quintile(s.predicted_clv, cuts.get("clv", [])) if s.predicted_clv is not None else None,
        "lifecycle_stage": lifecycle_stage(
            [at for at, _, _, _ in orders], history.last_activity or as_of, as_of, churn_days
        ),
        "country": (traits.get("country") or "")[:2].upper() or None,
        "language": (traits.get("language") or "").split("-")[0].lower()[:8] or None,
        "utc_offset_minutes": _utc_offset(traits.get("timezone"), as_of),
        "currency": currencies.most_common(1)[0][0] if currencies else None,
        "birth_month": _birth_month(traits.get("birthday")),
        "channel": orders[0][3] if orders else None,
        "cohort_month": orders[0][0].strftime("%Y-%m") if orders else None,
        "values_ct": store.keystore.encrypt(s.root, "computed_trait", "values", s.root, json.dumps(values)),
    }


def _write(session: Session, rows: list[dict[str, Any]], members: list[str] | None) -> None:
    if members is None:
        session.execute(delete(ComputedTrait))
    else:
        for chunk in chunks(members):
            session.execute(delete(ComputedTrait).where(col(ComputedTrait.profile_id).in_(chunk)))
    for start in range(0, len(rows), CHUNK):
        # Core insert: one multi-row statement per chunk (the ORM's bulk insert splits rows by which values
        # are NULL, ~150 statements for 500 customers)
        session.connection().execute(insert(table_of(ComputedTrait)), rows[start : start + CHUNK])


def latest_model(session: Session) -> Model | None:
    row = session.execute(
        select(col(TraitModel.parameters)).order_by(col(TraitModel.fitted_at).desc()).limit(1)
    ).first()
    return Model.from_json(row[0]) if row else None


def compute_all(
    session: Session,
    store: Store,
    access: AccessContext,
    *,
    as_of: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute every customer's traits and refit the model; returns the number of customers."""
    access.forbid_subject_tokens()  # every customer's: a data-subject token holds write on its own data only
    access.require("user.behavior.purchase")
    access.require("user.derived.value", action="write", field="computedTraits")
    as_of = as_of or utcnow()
    settings = get_trait_settings()
    histories = _gather(session, store, _roots(session, None), everyone=True)
    stats = [_stats(root, h, as_of) for root, h in histories.items()]
    model = _fit_model(stats, settings.clv_horizon_weeks)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(stats), CHUNK):
        batch = stats[start : start + CHUNK]
        store.keystore.prefetch(s.root for s in batch)
        rows.extend(_row(s, model, as_of, settings.churn_days, store) for s in batch)
        if on_progress:
            on_progress(len(rows), len(stats))
    _write(session, rows, None)
    session.add(TraitModel(fitted_at=as_of, customers=len(stats), parameters=model.to_json()))
    session.flush()
    return len(stats)


def refresh_for(session: Session, store: Store, profile_ids: Iterable[str], *, as_of: datetime | None = None) -> None:
    """Recompute the customers these profiles belong to (after ingest: derived from data the caller was
    allowed to write, returning nothing), scored with the latest fitted model."""
    wanted = list(dict.fromkeys(p for p in profile_ids if p))
    if not wanted:
        return
    as_of = as_of or utcnow()
    settings = get_trait_settings()
    model = latest_model(session) or Model({}, None, None)
    roots = _roots(session, wanted)
    histories = _gather(session, store, roots, everyone=False)
    stats = [_stats(root, h, as_of) for root, h in histories.items()]
    _predict(stats, model, settings.clv_horizon_weeks)
    store.keystore.prefetch(s.root for s in stats)
    _write(session, [_row(s, model, as_of, settings.churn_days, store) for s in stats], list(roots))


def queue_refresh(session: Session, profile_ids: Iterable[str]) -> None:
    """Mark these customers for `drain_refreshes` (a mark already there is bumped, see TraitRefresh.marks)."""
    wanted = sorted({p for p in profile_ids if p})  # one order for every writer: no deadlock between two batches
    if not wanted:
        return
    table = table_of(TraitRefresh)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(index_elements=["profile_id"], set_={"marks": table.c.marks + 1})
    for chunk in chunks(wanted):
        session.connection().execute(statement, [{"profile_id": p, "marks": 1} for p in chunk])


def drain_refreshes(session: Session, store: Store, *, limit: int = CHUNK) -> int:
    """Refresh up to `limit` queued customers and remove their marks; returns how many were taken (0: none
    left). Marks another drain holds are skipped (PostgreSQL), so drains running at once share the queue."""
    table = table_of(TraitRefresh)
    taken = session.execute(
        select(table.c.profile_id, table.c.marks)
        .order_by(table.c.profile_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not taken:
        return 0
    refresh_for(session, store, [profile_id for profile_id, _ in taken])
    session.connection().execute(
        delete(table).where(table.c.profile_id == bindparam("pid"), table.c.marks == bindparam("seen")),
        [{"pid": profile_id, "seen": marks} for profile_id, marks in taken],
    )
    return len(taken)


# -- reading -----------------------------------------------------------------------------------------------
def _view_of(row: ComputedTrait, store: Store) -> ComputedView:
    values = json.loads(
        store.keystore.decrypt(row.profile_id, "computed_trait", "values", row.profile_id, row.values_ct)
    )
    plain = {k: getattr(row, k) for k in ComputedView.__dataclass_fields__ if k not in ("values",)}
    return ComputedView(**plain, values=values)


def computed_traits(
    session: Session, store: Store, access: AccessContext, view: CustomerView, categories: list[str]
) -> ComputedView | None:
    """The customer's computed traits, if this request may see them: nothing for a blocked customer (the view
    carries the per-subject decision), the asked-for categories required and recorded for the audit entry."""
    if view.blocked is not None:
        return None
    for category in categories:
        access.require(category, field="Profile.computedTraits")
    row = session.get(ComputedTrait, view.root_id)
    if row is None:
        return None
    for category in categories:
        access.returned(view.root_id, category)
    return _view_of(row, store)


def export_rows(session: Session, store: Store, access: AccessContext, group: ProfileGroup) -> list[dict[str, Any]]:
    """For the data-subject access export: every computed-trait row of the group, decrypted (the export has
    required `export` on every category the customer's data holds)."""
    access.check_subject(group.member_ids)
    rows = session.execute(select(ComputedTrait).where(col(ComputedTrait.profile_id).in_(group.member_ids))).scalars()
    return [{**vars(_view_of(r, store)), "computed_at": r.computed_at.isoformat()} for r in rows]
