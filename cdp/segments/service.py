"""Segment definitions (create, list, read; a change is a new version) and membership evaluation in SQL,
keeping entry and exit times. Functions take the caller's session and never commit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.identity.models import Profile
from cdp.ids import new_id, utcnow
from cdp.segments import language
from cdp.segments.language import Compiler, SegmentSpec
from cdp.segments.models import Segment, SegmentMembership
from cdp.segments.sql import Permissions, groups_cte

SEGMENT_CATEGORY = "system.segment"  # definitions: not personal data, but who may change them is governed


class SegmentNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Evaluation:
    segment: Segment
    members: int
    entered: int
    exited: int


def _require_definition(access: AccessContext, where: dict, action: str) -> None:
    """Who creates, evaluates or reads a segment must hold read on every category it selects on: membership
    reveals those values."""
    access.forbid_subject_tokens()
    access.require(SEGMENT_CATEGORY, action=action, field="segment")
    for category in language.categories(where):
        access.require(category, field="segment.where")


def create_segment(session: Session, access: AccessContext, spec: SegmentSpec) -> Segment:
    """Store the definition as the next version of its name (a definition equal to the latest is kept)."""
    _require_definition(access, spec.where, "write")
    latest = _latest(session, spec.name)
    if latest is not None and latest.definition == spec.canonical() and latest.description == spec.description:
        return latest
    segment = Segment(
        name=spec.name,
        version=(latest.version + 1) if latest else 1,
        description=spec.description,
        definition=spec.canonical(),
        created_by=access.principal.key_id,
    )
    session.add(segment)
    session.flush()
    audit_in(
        session,
        access,
        operation="segment.create",
        document=segment.definition,
        outcome="allowed",
        categories=language.categories(spec.where),
        detail=f"segment {segment.name} v{segment.version}",
    )
    return segment


def _latest(session: Session, name: str) -> Segment | None:
    return session.execute(
        select(Segment).where(col(Segment.name) == name).order_by(col(Segment.version).desc()).limit(1)
    ).scalar_one_or_none()


def list_segments(session: Session, access: AccessContext) -> list[Segment]:
    """The latest version of every segment, by name."""
    access.forbid_subject_tokens()
    access.require(SEGMENT_CATEGORY, field="segments")
    newest = (
        select(col(Segment.name), func.max(col(Segment.version)).label("version"))
        .group_by(col(Segment.name))
        .subquery()
    )
    query = select(Segment).join(
        newest, (newest.c.name == col(Segment.name)) & (newest.c.version == col(Segment.version))
    )
    return list(session.execute(query.order_by(col(Segment.name))).scalars())


def get_segment(session: Session, access: AccessContext, ref: str) -> Segment:
    """A segment by id (any version) or by name (its latest version)."""
    access.forbid_subject_tokens()
    access.require(SEGMENT_CATEGORY, field="segment")
    segment = session.get(Segment, ref) or _latest(session, ref)
    if segment is None:
        raise SegmentNotFound(f"no segment with id or name {ref!r}")
    return segment


def where_of(segment: Segment) -> dict:
    return json.loads(segment.definition)


def evaluate_segment(session: Session, access: AccessContext, ref: str, *, as_of: datetime | None = None) -> Evaluation:
    """Recompute membership in SQL: customers who now match enter, those who no longer match exit. Erased
    and restricted customers are never members (evaluating is processing)."""
    segment = _latest(session, get_segment(session, access, ref).name)  # an old version's id: its name's latest
    assert segment is not None
    where = where_of(segment)
    _require_definition(access, where, "write")
    now = as_of or utcnow()
    groups = groups_cte()
    permitted = Permissions(access.purposes, groups)
    compiler = Compiler(now, groups, permitted)
    matching = permitted.join_to(language.select_roots(compiler, where, col(Profile.status) == "active"))
    current = set(session.execute(matching).scalars())
    open_rows = col(SegmentMembership.segment_name) == segment.name, col(SegmentMembership.exited_at).is_(None)
    members = set(session.execute(select(col(SegmentMembership.profile_id)).where(*open_rows)).scalars())
    leaving, entering = members - current, current - members
    for chunk in _chunks(sorted(leaving)):
        session.execute(
            update(SegmentMembership)
            .where(*open_rows, col(SegmentMembership.profile_id).in_(chunk))
            .values(exited_at=now)
        )
    for chunk in _chunks(sorted(entering)):
        rows = [{"id": new_id(), "segment_name": segment.name, "profile_id": p, "entered_at": now} for p in chunk]
        session.execute(insert(SegmentMembership), rows)
    segment.evaluated_at = now
    session.add(segment)
    session.flush()
    return Evaluation(segment, len(current), len(entering), len(leaving))


def _chunks(ids: list[str], size: int = 2_000) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
