"""`cdp worker`: plan new events into trigger jobs, decide the due ones, deliver the outbox, refresh the computed
traits an import left queued; repeat.

Several workers may run against PostgreSQL (claims skip rows another worker locked); on SQLite run one. Each
also keeps the event table's monthly partitions made ahead (PostgreSQL; cdp.events.partitions).
Each job and each delivery is its own transaction, so killing a worker loses nothing: its claims expire
after the lease and another pass takes them again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import httpx
from sqlmodel import Session

from cdp.activation.jobs import claim_jobs
from cdp.activation.planner import plan
from cdp.activation.triggers import Decision, decide
from cdp.events.partitions import ensure_partitions
from cdp.ids import utcnow
from cdp.outbox.settings import get_outbox_settings
from cdp.store import Store
from cdp.traits.service import drain_refreshes
from cdp.worker.outbox import DeliveryReport, deliver_due

JOB_LEASE = timedelta(minutes=2)
log = logging.getLogger("cdp.worker")


@dataclass
class PassReport:
    events: int = 0  # new events the planner read
    planned: int = 0
    decisions: list[Decision] = field(default_factory=list)
    deliveries: DeliveryReport = DeliveryReport(0, 0, 0)
    refreshed: int = 0  # customers whose queued computed-traits refresh this pass did

    @property
    def busy(self) -> bool:
        return bool(
            self.events
            or self.planned
            or self.decisions
            or self.deliveries.delivered
            or self.deliveries.retrying
            or self.refreshed
        )


def run_once(
    store: Store, *, now: datetime | None = None, client: httpx.Client | None = None, batch: int = 200
) -> PassReport:
    """One pass: plan, decide what is due, deliver what is due, refresh up to `batch` queued customers."""
    now = now or utcnow()
    report = PassReport()
    planned = store.run(lambda s: plan(s, store, now=now))
    report.events, report.planned = planned.events, planned.jobs
    for job_id in store.run(lambda s: claim_jobs(s, now=now, lease=JOB_LEASE, limit=batch)):
        try:
            report.decisions.append(store.run(_decision(store, job_id, now)))
        except Exception:  # one bad job must not hold up the others; its lease brings it back
            log.exception("trigger job %s failed; retried after its lease", job_id)
    report.deliveries = deliver_due(store, now=now, client=client, limit=batch)
    report.refreshed = store.run(lambda s: drain_refreshes(s, store, limit=batch))
    return report


def _decision(store: Store, job_id: str, now: datetime) -> Callable[[Session], Decision]:
    """The work deciding one job, bound to its own id (a lambda made in the loop would close over the loop variable)."""
    return lambda session: decide(session, store, job_id, now=now)


def _make_partitions(store: Store, today: date) -> None:
    made = store.run(lambda s: ensure_partitions(s, today))
    if made:
        log.info("event partitions made for %s", ", ".join(f"{m:%Y-%m}" for m in made))


def run_forever(
    store: Store,
    stop: threading.Event,
    *,
    poll_seconds: float = 1.0,
    on_pass: Callable[[PassReport], None] | None = None,
) -> None:
    """Poll until `stop` is set; a busy pass is followed at once by the next one. Once a day (and at start) the
    event table's monthly partitions are made ahead of time (PostgreSQL)."""
    maintained: date | None = None
    with httpx.Client(timeout=get_outbox_settings().outbox_timeout_seconds) as client:
        while not stop.is_set():
            try:
                today = utcnow().date()
                if today != maintained:
                    _make_partitions(store, today)
                    maintained = today
                report = run_once(store, client=client)
            except Exception:  # the database went away, say: keep polling, claims come back after their lease
                log.exception("worker pass failed")
                stop.wait(poll_seconds)
                continue
            if on_pass is not None:
                on_pass(report)
            if not report.busy:
                stop.wait(poll_seconds)
