"""Consented audiences: a segment's members for the request's purpose, as a cursor-paginated list or a whole
export. Erasure, restriction, consent (and, for China-resident customers sent abroad, the cross-border
consent) are decided in the SQL query, so a customer the purpose may not reach is never loaded: no id, no
count. Only the fields the role may read (list) or export (export) for the purpose are produced."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.sql import Select
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.categories import SEGMENT_MEMBER_VALUES, segment_member_fields
from cdp.db import table_of
from cdp.identity.models import Identity, Profile
from cdp.profiles.models import Trait
from cdp.segments import language
from cdp.segments.models import Segment, SegmentMembership
from cdp.segments.service import get_segment, where_of
from cdp.segments.sql import Permissions, cross_border, groups_cte, processable
from cdp.store import Store
from cdp.traits.groups import members_of
from cdp.traits.models import ComputedTrait

CHUNK = 2_000
# Plain columns, not ORM entities: an export reads 100,000 rows (labelled apart from the membership's).
_COMPUTED = [column.label(f"ct_{column.name}") for column in table_of(ComputedTrait).c]
ENCRYPTED = {*SEGMENT_MEMBER_VALUES, "timezone"}  # read from the encrypted values of the computed row


@dataclass(frozen=True)
class Member:
    profile_id: str
    entered_at: datetime
    fields: dict[str, Any]


@dataclass(frozen=True)
class AudienceExport:
    segment: Segment
    fields: list[str]
    members: list[Member]


def _audience(access: AccessContext, segment: Segment, destination_country: str) -> Select:
    """Open memberships of customers the request's purpose may reach, in profile id order."""
    groups = groups_cte()
    permitted = Permissions(access.purposes, groups)
    reachable = and_(
        processable(access.purpose), permitted(access.purpose), cross_border(permitted, destination_country)
    )
    query = (
        select(col(SegmentMembership.profile_id), col(SegmentMembership.entered_at), *_COMPUTED)
        .join(Profile, col(Profile.id) == col(SegmentMembership.profile_id))
        .outerjoin(ComputedTrait, col(ComputedTrait.profile_id) == col(Profile.id))
    )
    return permitted.join_to(query).where(
        col(SegmentMembership.segment_name) == segment.name,
        col(SegmentMembership.exited_at).is_(None),
        col(Profile.merged_into).is_(None),
        reachable,
    )


def _check_country(destination_country: str) -> str:
    if not (len(destination_country) == 2 and destination_country.isalpha()):
        raise ValueError("destination_country: an ISO 3166-1 alpha-2 code like DE or CN")
    return destination_country.upper()


def _fields(access: AccessContext, action: str, wanted: Iterable[str] | None) -> list[str]:
    """The requested fields (each must be granted), or every field the grant allows."""
    categories = segment_member_fields()
    if wanted is None:
        return [f for f, c in categories.items() if access.allows(c, action)]
    fields = list(dict.fromkeys(wanted))
    for f in fields:
        if f not in categories:
            raise ValueError(f"fields: unknown field {f!r}; fields: {', '.join(categories)}")
        access.require(categories[f], action=action, field=f)
    return fields


def _open_segment(session: Session, access: AccessContext, ref: str) -> Segment:
    segment = get_segment(session, access, ref)
    for category in language.categories(where_of(segment)):
        access.require(category, field="segment.where")
    return segment


def _decrypted(session: Session, store: Store, fields: list[str], rows: list[Any]) -> list[Member]:
    roots = [r.profile_id for r in rows]
    owner = members_of(session, roots) if {"email", "first_name"} & set(fields) else {}
    emails: dict[str, str] = {}
    names: dict[str, str] = {}
    members = list(owner)
    store.keystore.prefetch([*members, *roots])
    for start in range(0, len(members), CHUNK):
        chunk = members[start : start + CHUNK]
        if "email" in fields:
            query = select(col(Identity.id), col(Identity.profile_id), col(Identity.value_ct)).where(
                col(Identity.kind) == "email", col(Identity.profile_id).in_(chunk)
            )
            for iid, pid, blob in session.execute(
                query.order_by(col(Identity.created_at).desc(), col(Identity.id).desc())
            ):
                emails[owner[pid]] = store.keystore.decrypt(pid, "identity", "value", iid, blob)  # oldest wins
        if "first_name" in fields:
            query = select(col(Trait.id), col(Trait.profile_id), col(Trait.value_ct)).where(
                col(Trait.name) == "first_name", col(Trait.profile_id).in_(chunk)
            )
            for tid, pid, blob in session.execute(query.order_by(col(Trait.updated_at), col(Trait.id))):
                names[owner[pid]] = str(json.loads(store.keystore.decrypt(pid, "trait", "value", tid, blob)))
    result = []
    wants_values = any(f in ENCRYPTED for f in fields)
    for row in rows:
        computed = row._mapping
        has_row = computed["ct_profile_id"] is not None
        values: dict[str, Any] = {}
        if wants_values and has_row:
            blob = computed["ct_values_ct"]
            values = json.loads(
                store.keystore.decrypt(row.profile_id, "computed_trait", "values", row.profile_id, blob)
            )
        out: dict[str, Any] = {}
        for f in fields:
            if f == "email":
                out[f] = emails.get(row.profile_id)
            elif f == "first_name":
                out[f] = names.get(row.profile_id)
            elif f in ENCRYPTED:
                out[f] = values.get(f)
            else:
                out[f] = computed[f"ct_{f}"]
        result.append(Member(row.profile_id, row.entered_at, out))
    return result


def member_page(
    session: Session,
    store: Store,
    access: AccessContext,
    ref: str,
    *,
    destination_country: str,
    first: int,
    after: str | None = None,
    since: datetime | None = None,
    fields: Iterable[str] | None = None,
) -> tuple[Segment, list[Member]]:
    """Up to `first` reachable members after the profile id `after` (fetch first + 1 to learn whether there
    is a next page); with `since`, only those who joined at or after it."""
    segment = _open_segment(session, access, ref)
    chosen = _fields(access, "read", fields)
    query = _audience(access, segment, _check_country(destination_country))
    if after is not None:
        query = query.where(col(SegmentMembership.profile_id) > after)
    if since is not None:
        query = query.where(col(SegmentMembership.entered_at) >= since)
    rows = list(session.execute(query.order_by(col(SegmentMembership.profile_id)).limit(first)))
    members = _decrypted(session, store, chosen, rows)
    for m in members:
        for f in chosen:
            access.returned(m.profile_id, segment_member_fields()[f])
    return segment, members


def member_count(session: Session, access: AccessContext, ref: str, *, destination_country: str) -> int:
    """How many members the request's purpose may reach (never the unfiltered size)."""
    segment = _open_segment(session, access, ref)
    query = _audience(access, segment, _check_country(destination_country)).subquery()
    return session.execute(select(func.count()).select_from(query)).scalar_one()


def export_segment(
    session: Session,
    store: Store,
    access: AccessContext,
    ref: str,
    *,
    destination_country: str,
    fields: Iterable[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> AudienceExport:
    """Every reachable member with the fields the role may export for the purpose; one audit entry with
    the member count and the fields."""
    segment = _open_segment(session, access, ref)
    chosen = _fields(access, "export", fields)
    destination = _check_country(destination_country)
    rows = list(session.execute(_audience(access, segment, destination).order_by(col(SegmentMembership.profile_id))))
    members: list[Member] = []
    for start in range(0, len(rows), CHUNK):
        members.extend(_decrypted(session, store, chosen, rows[start : start + CHUNK]))
        if on_progress:
            on_progress(len(members))
    categories = segment_member_fields()
    audit_in(
        session,
        access,
        operation="segment.export",
        document=segment.definition,
        outcome="allowed",
        subject_ids=[m.profile_id for m in members],
        categories=sorted({categories[f] for f in chosen}),
        detail=f"segment {segment.name} v{segment.version} to {destination}: {len(members)} members; "
        f"fields: id, entered_at, {', '.join(chosen)}",
    )
    return AudienceExport(segment, chosen, members)
