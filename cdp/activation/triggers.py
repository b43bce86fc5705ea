"""Trigger decisions: a due job becomes deliveries in the outbox, or a recorded reason why not.

Checked in this order, each in the job's own transaction: the trigger's condition (an order after the cart,
activity since the win-back was planned), erasure, restriction and consent for the trigger's purpose, quiet
hours in the customer's local time (the job waits), the frequency cap per customer and purpose, and a
destination serving the purpose. Every decision is audited (ids and reasons, never values).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.activation.access import trigger_access
from cdp.activation.definitions import Definitions, QuietHours, Trigger, definitions
from cdp.activation.models import TriggerJob
from cdp.categories import event_category
from cdp.events.models import Event, event_by_id
from cdp.identity.groups import ProfileGroup, ProfileNotFound, load_group
from cdp.outbox.models import Destination, OutboxDelivery
from cdp.profiles.service import CustomerView, views
from cdp.store import Store

ACTIVITY_TYPES = ("order", "cart", "page_view", "track")


@dataclass(frozen=True)
class Decision:
    job_id: str
    trigger: str
    status: str  # sent | skipped | postponed | gone (already decided by another worker)
    reason: str | None = None
    deliveries: int = 0


def decide(session: Session, store: Store, job_id: str, *, now: datetime, defs: Definitions | None = None) -> Decision:
    """Decide one claimed job in the caller's transaction (the worker commits)."""
    defs = defs or definitions()
    job = session.execute(select(TriggerJob).where(col(TriggerJob.id) == job_id).with_for_update()).scalar_one_or_none()
    if job is None or job.status != "pending":
        return Decision(job_id, job.trigger if job else "?", "gone")
    spec = defs.triggers[job.trigger]
    access = trigger_access(job.purpose)
    try:
        group = load_group(session, job.profile_id)
    except ProfileNotFound:
        return _close(session, access, job, None, "skipped", "customer gone", now)
    not_met = _condition(session, store, access, job, spec, group, now)
    if isinstance(not_met, datetime):
        return _postpone(job, not_met, "activity since planned")
    if not_met is not None:
        return _close(session, access, job, group, "skipped", not_met, now)
    blocked = access.blocked_reason(session, group)
    if blocked is not None:
        return _close(session, access, job, group, "skipped", blocked, now, denied=True)
    [view] = views(session, store, access, [group])
    if job.trigger == "birthday" and not _still_birthday(view, job):
        return _close(session, access, job, group, "skipped", "birthday changed since planned", now)
    zone = customer_zone(session, view)
    wait = _quiet_until(defs.quiet_hours, now, zone)
    if wait is not None:
        return _postpone(job, wait, "quiet hours")
    cap = defs.frequency_caps.get(job.purpose)
    if cap is not None and _sent_within(session, group, job.purpose, now - cap.period) >= cap.max:
        return _close(session, access, job, group, "skipped", f"frequency cap {cap.max} per {cap.per_hours} h", now)
    targets = serving(session, access, job.purpose)
    if not targets:
        return _close(session, access, job, group, "skipped", f"no destination serves {job.purpose}", now)
    payload = json.dumps(
        {
            "type": "trigger",
            "trigger": job.trigger,
            "job_id": job.id,
            "profile_id": group.root.id,
            "event_id": job.event_id,
        },
        sort_keys=True,
    )
    for destination in targets:
        session.add(
            OutboxDelivery(
                destination_id=destination.id,
                kind="trigger",
                profile_id=group.root.id,
                idempotency_key=f"trigger:{job.id}:{destination.id}",
                payload=payload,
            )
        )
    return _close(session, access, job, group, "sent", None, now, deliveries=len(targets))


def serving(session: Session, access: AccessContext, purpose: str) -> list[Destination]:
    """Active destinations whose declared purpose is the trigger's purpose or one of its ancestors."""
    covering = [purpose, *access.purposes.ancestors(purpose)]
    query = select(Destination).where(col(Destination.active).is_(True), col(Destination.purpose).in_(covering))
    return list(session.execute(query.order_by(col(Destination.name))).scalars())


def _condition(
    session: Session,
    store: Store,
    access: AccessContext,
    job: TriggerJob,
    spec: Trigger,
    group: ProfileGroup,
    now: datetime,
) -> str | datetime | None:
    """None when the trigger still applies; a reason to skip; or a later time to look again."""
    members = group.member_ids
    if job.trigger in ("abandoned_cart", "review_request"):
        event = event_by_id(session, job.event_id) if job.event_id else None
        if event is None:
            return "event gone"
        if job.trigger == "review_request":
            return None
        later = select(col(Event.type)).where(
            col(Event.profile_id).in_(members),
            col(Event.occurred_at) >= event.occurred_at,
            col(Event.id) != event.id,
            col(Event.type).in_(("order", "cart")),
        )
        types = set(session.execute(later).scalars())
        if "order" in types:
            return "ordered after the cart"
        if "cart" in types:
            return "superseded by a newer cart"
        if _completed(store, access, event, group):
            return "checkout completed"
        return None
    if job.trigger == "win_back":
        last = session.execute(
            select(func.max(col(Event.occurred_at))).where(
                col(Event.profile_id).in_(members), col(Event.type).in_(ACTIVITY_TYPES)
            )
        ).scalar_one_or_none()
        if last is not None:
            again = _aware(last) + timedelta(days=spec.inactive_days)
            if again > now:
                return again
    return None


def _completed(store: Store, access: AccessContext, cart: Event, group: ProfileGroup) -> bool:
    """A checkout the shop reported completed (its order may carry an earlier timestamp than the update)."""
    access.require(event_category(cart.type), field="abandoned cart")
    properties = json.loads(store.keystore.decrypt(cart.profile_id, "event", "properties", cart.id, cart.properties_ct))
    access.returned(group.root.id, event_category(cart.type))
    return bool(properties.get("completed"))


def _still_birthday(view: CustomerView, job: TriggerJob) -> bool:
    trait = view.trait("birthday")
    if trait is None or not trait.value:
        return False
    planned = date.fromisoformat(job.key.rsplit(":", 1)[1])
    born = date.fromisoformat(str(trait.value))
    return (born.month, born.day) == (planned.month, planned.day) or (
        (born.month, born.day) == (2, 29) and (planned.month, planned.day) == (2, 28)
    )


def customer_zone(session: Session, view: CustomerView) -> tzinfo:
    """The customer's time zone: their `timezone` trait, else the offset of their latest event, else UTC."""
    trait = view.trait("timezone")
    if trait is not None and isinstance(trait.value, str):
        try:
            return ZoneInfo(trait.value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    offset = session.execute(
        select(col(Event.utc_offset_minutes))
        .where(col(Event.profile_id).in_(view.group.member_ids))
        .order_by(col(Event.occurred_at).desc())
        .limit(1)
    ).scalar_one_or_none()
    return timezone(timedelta(minutes=offset)) if offset else UTC


def _quiet_until(quiet: QuietHours | None, now: datetime, zone: tzinfo) -> datetime | None:
    """When quiet hours end, if `now` falls inside them in the customer's local time."""
    if quiet is None:
        return None
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    overnight = quiet.start > quiet.end
    inside = (t >= quiet.start or t < quiet.end) if overnight else (quiet.start <= t < quiet.end)
    if not inside:
        return None
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


def _sent_within(session: Session, group: ProfileGroup, purpose: str, since: datetime) -> int:
    return session.execute(
        select(func.count()).where(
            col(TriggerJob.profile_id).in_(group.member_ids),
            col(TriggerJob.purpose) == purpose,
            col(TriggerJob.status) == "sent",
            col(TriggerJob.decided_at) > since,
        )
    ).scalar_one()


def _postpone(job: TriggerJob, until: datetime, reason: str) -> Decision:
    job.due_at, job.leased_until = until, None
    return Decision(job.id, job.trigger, "postponed", reason)


def _close(
    session: Session,
    access: AccessContext,
    job: TriggerJob,
    group: ProfileGroup | None,
    status: str,
    reason: str | None,
    now: datetime,
    *,
    denied: bool = False,
    deliveries: int = 0,
) -> Decision:
    job.status, job.outcome, job.decided_at, job.leased_until = status, reason, now, None
    subjects = [group.root.id] if group is not None else [job.profile_id]
    audit_in(
        session,
        access,
        operation=f"trigger:{job.trigger}",
        document=f"trigger {job.trigger} job {job.id}",
        outcome="denied" if denied else "allowed",
        subject_ids=subjects,
        categories=sorted(access.categories),
        detail=f"{status}: {reason}" if reason else f"{status} to {deliveries} destination(s)",
    )
    return Decision(job.id, job.trigger, status, reason, deliveries)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
