"""`cdp retention run`: delete events older than their category's retention period, audited per category.

Rows kept under a legal hold after an erasure expire here too (an order kept for tax law leaves after its
7 years); once an erased profile has no row left, its hold key is shredded as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import delete, func, select
from sqlmodel import Session

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.dictionary import dictionary
from cdp.dsr.erase import hold_key_owner
from cdp.events.models import Event
from cdp.identity.models import Profile
from cdp.ids import utcnow
from cdp.retention.policy import RetentionPolicy, retention_policy
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

    @property
    def expired(self) -> int:
        return sum(c.expired for c in self.categories)


def run_retention(
    store: Store,
    access: AccessContext,
    *,
    dry_run: bool,
    today: date | None = None,
    policy: RetentionPolicy | None = None,
) -> RetentionReport:
    """Delete (or, dry run, count) every expired event; one audit entry per category and batch."""
    policy = policy or retention_policy()
    today = today or utcnow().date()
    report = RetentionReport(dry_run)
    types_by_category: dict[str, list[str]] = {}
    for event_type, spec in dictionary().events.items():
        types_by_category.setdefault(spec.category, []).append(event_type)
    touched: set[str] = set()
    for category, rule in sorted(policy.rules.items()):
        types = types_by_category.get(category)
        if not types:
            continue
        access.require(category, action="erase")
        cutoff = rule.cutoff(today)
        before = datetime.combine(cutoff, time.min, tzinfo=UTC)
        expired = (Event.type.in_(types), Event.occurred_at < before)
        with store.session() as session:
            count, profiles = session.execute(
                select(func.count(), func.count(Event.profile_id.distinct())).where(*expired)
            ).one()
        report.categories.append(CategoryReport(category, cutoff, count, profiles))
        if not dry_run and count:
            touched |= _delete_expired(store, access, category, expired, rule.describe())
    if not dry_run and touched:
        report.hold_keys_shredded = _shred_empty_holds(store, touched)
    return report


def _delete_expired(store: Store, access: AccessContext, category: str, expired: tuple, why: str) -> set[str]:
    touched: set[str] = set()
    while True:
        with store.session() as session:
            rows = session.execute(select(Event.id, Event.profile_id).where(*expired).limit(BATCH)).all()
            if not rows:
                return touched
            session.execute(delete(Event).where(Event.id.in_([r.id for r in rows])))
            subjects = sorted({r.profile_id for r in rows})
            _audit(session, access, category, subjects, len(rows), why)
            session.commit()
        touched |= set(subjects)


def _audit(session: Session, access: AccessContext, category: str, subjects: list[str], rows: int, why: str) -> None:
    audit_in(
        session,
        access,
        operation="retention:delete",
        document=f"retention {category} {rows}",
        subject_ids=subjects,
        categories=[category],
        outcome="allowed",
        detail=f"{rows} expired event(s): kept {why}",
    )


def _shred_empty_holds(store: Store, profile_ids: set[str]) -> int:
    """Erased profiles whose last held row just expired: their hold keys have nothing left to open."""
    with store.session() as session:
        erased = set(
            session.execute(select(Profile.id).where(Profile.id.in_(profile_ids), Profile.status == "erased")).scalars()
        )
        still_held = set(
            session.execute(select(Event.profile_id).where(Event.profile_id.in_(erased)).distinct()).scalars()
        )
    empty = erased - still_held
    return store.keystore.shred([hold_key_owner(p) for p in empty]) if empty else 0
