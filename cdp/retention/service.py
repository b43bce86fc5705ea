"""`cdp retention run`: delete events older than their category's retention period, audited per category. On
PostgreSQL a month in which everything expired goes whole, its partition dropped (cdp.events.partitions).

Rows kept under a legal hold after an erasure expire here too (an order kept for tax law leaves after its
7 years); once an erased profile has no row left, its hold key is shredded as well.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import and_, func, not_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.dates import add_months
from cdp.dictionary import dictionary
from cdp.events.models import Event, delete_event_keys, delete_events
from cdp.events.partitions import drop_partition, month_bounds, partition_months
from cdp.identity.models import Profile
from cdp.ids import utcnow
from cdp.retention.policy import RetentionPolicy, RetentionRule, hold_key_owner, retention_policy
from cdp.store import Store

BATCH = 5_000


@dataclass
class CategoryReport:
    category: str
    cutoff: date
    expired: int
    profiles: int


@dataclass
class RetentionReport:
    dry_run: bool
    categories: list[CategoryReport] = field(default_factory=list)
    hold_keys_shredded: int = 0
    months_dropped: list[date] = field(default_factory=list)  # PostgreSQL: partitions dropped whole (dry run: would)

    @property
    def expired(self) -> int:
        return sum(c.expired for c in self.categories)


def run_retention(
    session: Session,
    store: Store,
    access: AccessContext,
    *,
    dry_run: bool,
    today: date | None = None,
    policy: RetentionPolicy | None = None,
) -> RetentionReport:
    """Delete (or, dry run, count) every expired event in the caller's transaction; one audit entry per
    category and batch. On PostgreSQL a month whose rows have all expired goes whole: its partition is dropped
    (last, as that locks the event table until commit) instead of its rows deleted one by one. Hold keys left
    with nothing to open are shredded last: if the transaction then fails, the rows it meant to delete are
    unreadable anyway (they had expired)."""
    access.forbid_subject_tokens()  # it spans every customer: a subject's erase grant covers only itself
    policy = policy or retention_policy()
    today = today or utcnow().date()
    report = RetentionReport(dry_run)
    types_by_category: dict[str, list[str]] = {}
    for event_type, spec in dictionary().events.items():
        types_by_category.setdefault(spec.category, []).append(event_type)
    rules = [(rule, types_by_category[c]) for c, rule in sorted(policy.rules.items()) if c in types_by_category]
    for rule, _ in rules:
        access.require(rule.category, action="erase")
    report.months_dropped = _expired_months(session, rules, today)
    whole_months = [not_(_within(month)) for month in report.months_dropped]
    touched: set[str] = set()
    for rule, types in rules:
        cutoff = rule.cutoff(today)
        expired = (col(Event.type).in_(types), col(Event.occurred_at) < datetime.combine(cutoff, time.min, tzinfo=UTC))
        count, profiles = session.execute(
            select(func.count(), func.count(col(Event.profile_id).distinct())).where(*expired)
        ).one()
        report.categories.append(CategoryReport(rule.category, cutoff, count, profiles))
        if not dry_run and count:
            touched |= _delete_expired(session, access, rule, (*expired, *whole_months))
    if dry_run:
        return report
    for month in report.months_dropped:
        touched |= _drop_month(session, access, month, rules)
    if touched:
        report.hold_keys_shredded = _shred_empty_holds(session, store, touched)
    return report


def _within(month: date) -> ColumnElement[bool]:
    start, end = month_bounds(month)
    return and_(col(Event.occurred_at) >= start, col(Event.occurred_at) < end)


def _expired_months(session: Session, rules: list[tuple[RetentionRule, list[str]]], today: date) -> list[date]:
    """The months with a partition of their own (PostgreSQL) in which every row has expired: each row's type
    has a retention rule whose cutoff falls after the month's end. A type without a rule is kept until erasure,
    so one such row keeps its month's partition (its other rows then expire one by one)."""
    months = []
    for month in partition_months(session):
        end = add_months(month, 1)
        expired_types = [t for rule, types in rules if rule.cutoff(today) >= end for t in types]
        if not expired_types:
            break  # later months end later still
        kept = select(col(Event.id)).where(_within(month), col(Event.type).not_in(expired_types)).limit(1)
        if session.execute(kept).first() is None:
            months.append(month)
    return months


def _delete_expired(session: Session, access: AccessContext, rule: RetentionRule, expired: tuple) -> set[str]:
    touched: set[str] = set()
    while True:
        rows = session.execute(
            select(col(Event.id), col(Event.profile_id), col(Event.occurred_at))
            .where(*expired)
            .order_by(col(Event.occurred_at))
            .limit(BATCH)
        ).all()
        if not rows:
            return touched
        # the batch's time span keeps PostgreSQL to the partitions of its months
        span = col(Event.occurred_at).between(rows[0].occurred_at, rows[-1].occurred_at)
        delete_events(session, col(Event.id).in_([r.id for r in rows]), span)
        subjects = sorted({r.profile_id for r in rows})
        _audit(session, access, rule.category, subjects, len(rows), f"kept {rule.describe()}")
        touched |= set(subjects)


def _drop_month(
    session: Session, access: AccessContext, month: date, rules: list[tuple[RetentionRule, list[str]]]
) -> set[str]:
    """Audit what a whole month's partition holds (per category, BATCH subjects an entry), then drop it."""
    rule_of = {t: rule for rule, types in rules for t in types}
    rows: dict[RetentionRule, Counter[str]] = {}
    for event_type, profile_id, count in session.execute(
        select(col(Event.type), col(Event.profile_id), func.count())
        .where(_within(month))
        .group_by(col(Event.type), col(Event.profile_id))
    ):
        rows.setdefault(rule_of[event_type], Counter())[profile_id] += count
    for rule, per_subject in sorted(rows.items(), key=lambda item: item[0].category):
        subjects = sorted(per_subject)
        for start in range(0, len(subjects), BATCH):
            chunk = subjects[start : start + BATCH]
            why = f"kept {rule.describe()}; the partition of {month:%Y-%m} dropped whole"
            _audit(session, access, rule.category, chunk, sum(per_subject[s] for s in chunk), why)
    delete_event_keys(session, _within(month))
    drop_partition(session, month)
    return {subject for per_subject in rows.values() for subject in per_subject}


def _audit(session: Session, access: AccessContext, category: str, subjects: list[str], rows: int, why: str) -> None:
    audit_in(
        session,
        access,
        operation="retention:delete",
        document=f"retention {category} {rows}",
        subject_ids=subjects,
        categories=[category],
        outcome="allowed",
        detail=f"{rows} expired event(s): {why}",
    )


def _shred_empty_holds(session: Session, store: Store, profile_ids: set[str]) -> int:
    """Erased profiles whose last held row just expired: their hold keys have nothing left to open."""
    erased = set(
        session.execute(
            select(col(Profile.id)).where(col(Profile.id).in_(profile_ids), col(Profile.status) == "erased")
        ).scalars()
    )
    still_held = set(
        session.execute(select(col(Event.profile_id)).where(col(Event.profile_id).in_(erased)).distinct()).scalars()
    )
    empty = erased - still_held
    return store.keystore.shred([hold_key_owner(p) for p in empty]) if empty else 0
