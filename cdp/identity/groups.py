"""A customer as a merge group: the root profile and every profile merged into it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.identity.models import MergeRecord, Profile
from cdp.identity.resolve import group_members, root_of


class ProfileNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ProfileGroup:
    """A customer: the root profile and every profile merged into it."""

    root: Profile
    member_ids: list[str]


def load_group(session: Session, profile_id: str) -> ProfileGroup:
    """The customer holding `profile_id`. The merge chain is read afresh: merges this session wrote through
    Core statements are seen, whatever profile objects it holds."""
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise ProfileNotFound(f"no profile with id {profile_id}")
    root_id = root_of(session, profile_id)
    root = profile if root_id == profile_id else session.get(Profile, root_id)
    assert root is not None
    return ProfileGroup(root, group_members(session, root_id))


def group_of(session: Session, profile: Profile) -> ProfileGroup:
    """The customer of a profile just read from the database (its `merged_into` is current): one never merged
    is its own root, without a look-up of the chain."""
    if profile.merged_into is None:
        return ProfileGroup(profile, group_members(session, profile.id))
    return load_group(session, profile.merged_into)


def load_groups(session: Session, roots: list[Profile]) -> list[ProfileGroup]:
    """The merge groups of a page of root profiles: one query per level of merging, not one per customer."""
    members: dict[str, list[str]] = {root.id: [root.id] for root in roots}
    owner = {root.id: root.id for root in roots}
    frontier = list(owner)
    while frontier:
        rows = session.execute(
            select(col(Profile.id), col(Profile.merged_into)).where(col(Profile.merged_into).in_(frontier))
        ).all()
        frontier = []
        for child, parent in rows:
            owner[child] = owner[parent]
            members[owner[child]].append(child)
            frontier.append(child)
    return [ProfileGroup(root, members[root.id]) for root in roots]


def merge_links(session: Session, member_ids: list[str]) -> list[MergeRecord]:
    """Every merge record touching these profiles (undone ones included), oldest first: ids only."""
    return list(
        session.execute(
            select(MergeRecord)
            .where(col(MergeRecord.survivor_id).in_(member_ids) | col(MergeRecord.absorbed_id).in_(member_ids))
            .order_by(col(MergeRecord.merged_at))
        ).scalars()
    )
