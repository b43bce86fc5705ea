"""Monthly partitions of the event table on PostgreSQL (SQLite keeps one table, and these do nothing there).

Each month of `occurred_at` (UTC) has its partition, `event_YYYY_MM`; rows of a month without one land in
`event_default` (a historical import, say). `ensure_partitions` keeps this month and the next MONTHS_AHEAD
made, and gives every month found in the default partition its own, moving its rows there; `cdp worker` runs it
at start and once a day, `cdp retention run` before it looks for expired months. Retention drops a month's
partition when every row in it has expired (cdp.retention.service).

The DDL runs inside two SECURITY DEFINER functions made by migration 0014 (the application role does not own the
table); both take the first day of a month and do nothing when there is nothing to do.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from sqlalchemy import text
from sqlmodel import Session

from cdp.dates import add_months

MONTHS_AHEAD = 3
DEFAULT_PARTITION = "event_default"
_MONTH_PARTITION = re.compile(r"event_(\d{4})_(\d{2})")


def is_partitioned(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The [start, end) of a month's partition, in UTC."""
    start = datetime.combine(month, time.min, tzinfo=UTC)
    return start, datetime.combine(add_months(month, 1), time.min, tzinfo=UTC)


def partition_months(session: Session) -> list[date]:
    """The months that have a partition of their own, oldest first ([] on SQLite)."""
    if not is_partitioned(session):
        return []
    names = session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'event'::regclass"
        )
    ).scalars()
    return sorted(date(int(m[1]), int(m[2]), 1) for name in names if (m := _MONTH_PARTITION.fullmatch(name)))


def ensure_partitions(session: Session, today: date) -> list[date]:
    """Make the partitions of this month, the next MONTHS_AHEAD, and every month that has rows in the default
    partition; returns the months made. In the caller's transaction."""
    if not is_partitioned(session):
        return []
    wanted = {add_months(month_of(today), n) for n in range(MONTHS_AHEAD + 1)}
    wanted.update(
        session.execute(
            text(f"SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date FROM {DEFAULT_PARTITION}")
        ).scalars()
    )
    wanted -= set(partition_months(session))
    create = text("SELECT cdp_create_event_partition(:month)")
    return [month for month in sorted(wanted) if session.execute(create, {"month": month}).scalar_one()]


def drop_partition(session: Session, month: date) -> bool:
    """Drop a month's partition and every row in it (the caller has checked they all expired). It locks the
    event table until the transaction ends: do it last."""
    return bool(session.execute(text("SELECT cdp_drop_event_partition(:month)"), {"month": month}).scalar_one())
