"""Claiming due work from the due-time tables, the same code on SQLite and PostgreSQL.

PostgreSQL claims with FOR UPDATE SKIP LOCKED, so several workers take disjoint rows; SQLite ignores the
clause (it has one writer at a time anyway). A claim is a lease: work whose worker died becomes claimable
again when `leased_until` has passed, so nothing is lost when a worker is killed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlmodel import Session, col

from cdp.activation.models import TriggerJob
from cdp.outbox.models import OutboxDelivery


def claim_jobs(session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[str]:
    """Ids of due trigger jobs, leased to the caller until now + lease (the door commits the claim)."""
    jobs = session.execute(
        select(TriggerJob)
        .where(
            col(TriggerJob.status) == "pending",
            col(TriggerJob.due_at) <= now,
            or_(col(TriggerJob.leased_until).is_(None), col(TriggerJob.leased_until) < now),
        )
        .order_by(col(TriggerJob.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    claimed = []
    for job in jobs:
        job.leased_until, job.attempts = now + lease, job.attempts + 1
        claimed.append(job.id)
    return claimed


def claim_deliveries(session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[str]:
    """Ids of outbox deliveries whose attempt is due, leased to the caller until now + lease."""
    deliveries = session.execute(
        select(OutboxDelivery)
        .where(
            col(OutboxDelivery.status) == "pending",
            col(OutboxDelivery.next_attempt_at) <= now,
            or_(col(OutboxDelivery.leased_until).is_(None), col(OutboxDelivery.leased_until) < now),
        )
        .order_by(col(OutboxDelivery.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    claimed = []
    for delivery in deliveries:
        delivery.leased_until = now + lease
        claimed.append(delivery.id)
    return claimed
