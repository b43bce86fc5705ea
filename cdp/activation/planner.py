"""Planning: new events and birthdays become rows of the due-time table (trigger_job).

The planner reads the events table after a cursor (received_at, id), whatever door the events came through
(Shopify, Segment, import, GraphQL). Events younger than SETTLE are left for the next pass: a transaction
that started earlier may still commit rows with an older received_at. Planning is idempotent (unique job
keys), so a pass that died half-way is simply run again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, insert, or_, select
from sqlmodel import Session, col

from cdp.activation.access import trigger_access
from cdp.activation.definitions import Definitions, definitions
from cdp.activation.models import PlannerCursor, TriggerJob
from cdp.activation.triggers import ACTIVITY_TYPES
from cdp.crypto.cipher import DecryptionError
from cdp.db import table_of
from cdp.events.models import Event
from cdp.ids import new_id
from cdp.profiles.models import Trait
from cdp.store import Store

SETTLE = timedelta(seconds=5)
BIRTHDAY_SWEEP_EVERY = timedelta(hours=1)
WIN_BACK_GRACE = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DOB_CATEGORY = "user.demographic.date_of_birth"


@dataclass
class PlanReport:
    events: int = 0
    jobs: int = 0


def plan(
    session: Session, store: Store, *, now: datetime, limit: int = 5000, defs: Definitions | None = None
) -> PlanReport:
    """One planning pass in the caller's transaction: up to `limit` new events, and the birthday sweep when
    it is due."""
    defs = defs or definitions()
    report = _plan_events(session, now, limit, defs)
    report.jobs += _sweep_birthdays(session, store, now, defs)
    return report


def _cursor(session: Session, name: str) -> PlannerCursor:
    cursor = session.get(PlannerCursor, name, with_for_update=True)
    if cursor is None:
        cursor = PlannerCursor(name=name, received_at=EPOCH, event_id="")
        session.add(cursor)
    return cursor


def _plan_events(session: Session, now: datetime, limit: int, defs: Definitions) -> PlanReport:
    cursor = _cursor(session, "events")
    after = or_(
        col(Event.received_at) > cursor.received_at,
        and_(col(Event.received_at) == cursor.received_at, col(Event.id) > cursor.event_id),
    )
    rows = session.execute(
        select(col(Event.id), col(Event.profile_id), col(Event.type), col(Event.occurred_at), col(Event.received_at))
        .where(after, col(Event.received_at) <= now - SETTLE)
        .order_by(col(Event.received_at), col(Event.id))
        .limit(limit)
    ).all()
    if not rows:
        return PlanReport()
    cursor.received_at, cursor.event_id = rows[-1].received_at, rows[-1].id
    triggers = defs.triggers
    jobs: list[dict] = []
    last_active: dict[str, datetime] = {}
    for event_id, profile_id, kind, occurred, _ in rows:
        occurred = occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC)
        cart, review = triggers.get("abandoned_cart"), triggers.get("review_request")
        if kind == "cart" and cart is not None and occurred + timedelta(hours=cart.max_age_hours) >= now:
            due = occurred + timedelta(minutes=cart.window_minutes)
            jobs.append(_job(f"abandoned_cart:{event_id}", "abandoned_cart", cart.purpose, profile_id, event_id, due))
        if kind == "order" and review is not None and occurred + timedelta(days=review.max_age_days) >= now:
            due = occurred + timedelta(days=review.delay_days)
            jobs.append(_job(f"review_request:{event_id}", "review_request", review.purpose, profile_id, event_id, due))
        if kind in ACTIVITY_TYPES:
            last_active[profile_id] = max(occurred, last_active.get(profile_id, occurred))
    added = _insert_new(session, jobs)
    if "win_back" in triggers:
        added += _plan_win_back(session, last_active, defs, now)
    return PlanReport(events=len(rows), jobs=added)


def _job(key: str, trigger: str, purpose: str, profile_id: str, event_id: str | None, due: datetime) -> dict:
    return {
        "id": new_id(),
        "key": key,
        "trigger": trigger,
        "purpose": purpose,
        "profile_id": profile_id,
        "event_id": event_id,
        "due_at": due,
        "status": "pending",
        "attempts": 0,
        "created_at": datetime.now(UTC),
    }


def _insert_new(session: Session, jobs: list[dict]) -> int:
    """Insert the jobs whose key is not planned yet (one look-up per 500 keys)."""
    keys = [j["key"] for j in jobs]
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        known.update(
            session.execute(
                select(col(TriggerJob.key)).where(col(TriggerJob.key).in_(keys[start : start + 500]))
            ).scalars()
        )
    fresh = list({j["key"]: j for j in jobs if j["key"] not in known}.values())
    if fresh:
        session.connection().execute(insert(table_of(TriggerJob)), fresh)
    return len(fresh)


def _plan_win_back(session: Session, last_active: dict[str, datetime], defs: Definitions, now: datetime) -> int:
    """One win-back job per profile, due `inactive_days` after its latest activity: moved later by new
    activity, and opened again after a decision when the customer came back since. Customers who crossed the
    threshold more than WIN_BACK_GRACE before the planner saw them (history imported, the worker started on
    an old database) plan nothing: that is no news, and it would send a burst to everyone ever inactive."""
    spec = defs.triggers["win_back"]
    period = timedelta(days=spec.inactive_days)
    keys = {f"win_back:{p}": p for p in last_active}
    existing = {}
    for start in range(0, len(keys), 500):
        chunk = list(keys)[start : start + 500]
        existing.update(
            {j.key: j for j in session.execute(select(TriggerJob).where(col(TriggerJob.key).in_(chunk))).scalars()}
        )
    new = []
    for key, profile_id in keys.items():
        due = last_active[profile_id] + period
        job = existing.get(key)
        if job is None:
            if due >= now - WIN_BACK_GRACE:
                new.append(_job(key, "win_back", spec.purpose, profile_id, None, due))
        elif job.status == "pending" and _aware(job.due_at) < due:
            job.due_at = due
        elif (
            job.status != "pending" and job.decided_at is not None and _aware(job.decided_at) < last_active[profile_id]
        ):
            job.status, job.due_at, job.outcome, job.decided_at = "pending", due, None, None
    return _insert_new(session, new)


def _sweep_birthdays(session: Session, store: Store, now: datetime, defs: Definitions) -> int:
    """Plan each customer's next birthday at the configured local time, at most once per sweep period."""
    spec = defs.triggers.get("birthday")
    if spec is None:
        return 0
    cursor = _cursor(session, "birthday")
    if _aware(cursor.received_at) + BIRTHDAY_SWEEP_EVERY > now:
        return 0
    cursor.received_at, cursor.event_id = now, "sweep"
    trigger_access(spec.purpose).require(DOB_CATEGORY, field="birthday trigger")
    rows = session.execute(
        select(col(Trait.id), col(Trait.profile_id), col(Trait.name), col(Trait.value_ct)).where(
            col(Trait.name).in_(("birthday", "timezone"))
        )
    ).all()
    values: dict[str, dict[str, str]] = {}
    for trait_id, profile_id, name, blob in rows:
        try:
            value = json.loads(store.keystore.decrypt(profile_id, "trait", "value", trait_id, blob))
        except DecryptionError:  # erased (keys shredded) while the row waits for deletion
            continue
        values.setdefault(profile_id, {})[name] = value
    jobs = []
    for profile_id, traits in values.items():
        due = _next_birthday(traits.get("birthday"), traits.get("timezone"), spec.local_time, now)
        if due is not None:
            key = f"birthday:{profile_id}:{due[0].isoformat()}"
            jobs.append(_job(key, "birthday", spec.purpose, profile_id, None, due[1]))
    return _insert_new(session, jobs)


def _next_birthday(born: object, zone_name: object, at: time, now: datetime) -> tuple[date, datetime] | None:
    """(the local date, the UTC instant) of the next birthday at `at` local time not yet past."""
    if not isinstance(born, str):
        return None
    try:
        birth = date.fromisoformat(born)
        zone = ZoneInfo(zone_name) if isinstance(zone_name, str) else UTC
    except (ValueError, ZoneInfoNotFoundError):
        return None
    local_now = now.astimezone(zone)
    for year in (local_now.year, local_now.year + 1):
        day = _on_year(birth, year)
        instant = datetime.combine(day, at, tzinfo=zone)
        if instant >= local_now:
            return day, instant.astimezone(UTC)
    return None


def _on_year(birth: date, year: int) -> date:
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 2, 28)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
