"""Merge groups of many customers at once: a few IN queries per level of merging instead of a query per
profile (an ingest batch touches hundreds of customers)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.identity.models import Profile

CHUNK = 2_000  # bound parameters per IN list


def chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def live_roots(session: Session, profile_ids: Iterable[str]) -> set[str]:
    """The roots of these profiles' merge groups, leaving out erased and restricted customers."""
    seen: dict[str, tuple[str | None, str]] = {}
    pending = list(dict.fromkeys(profile_ids))
    while pending:
        for chunk in chunks(pending):
            for pid, parent, status in session.execute(
                select(col(Profile.id), col(Profile.merged_into), col(Profile.status)).where(col(Profile.id).in_(chunk))
            ):
                seen[pid] = (parent, status)
        pending = list({p for p, _ in seen.values() if p is not None and p not in seen})

    def root(pid: str) -> str:
        while (parent := seen[pid][0]) is not None:
            pid = parent
        return pid

    roots = {root(pid) for pid in profile_ids if pid in seen}
    return {r for r in roots if seen[r][1] == "active"}


def members_of(session: Session, roots: Iterable[str]) -> dict[str, str]:
    """profile id -> root, for every profile merged (directly or through others) into these roots."""
    owner = {r: r for r in roots}
    frontier = list(owner)
    while frontier:
        found: list[str] = []
        for chunk in chunks(frontier):
            for pid, parent in session.execute(
                select(col(Profile.id), col(Profile.merged_into)).where(col(Profile.merged_into).in_(chunk))
            ):
                owner[pid] = owner[parent]
                found.append(pid)
        frontier = found
    return owner
