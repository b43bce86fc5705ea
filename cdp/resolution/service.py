"""Merges, unmerges and review decisions as governed operations.

Every operation here links or separates customers, so it is gated three ways: staff only (a data-subject token
may never merge, separate or decide), the dedicated purpose `identity_resolution`, and the role's grant on
`user.unique_id` (read for lists, write for changes) in policies/policy.csv. Each change is audited in the
caller's transaction, next to the change itself; the door commits. Reasons are required: they go to the audit
entry and the stored decision (write why, not customer data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.identity import resolve
from cdp.identity.models import MergeRecord, Profile, ReviewItem
from cdp.ids import utcnow
from cdp.store import Store
from policies.errors import AccessDenied

PURPOSE = "identity_resolution"
CATEGORY = "user.unique_id"
Decision = Literal["merge", "keep_apart", "dismiss"]
STATUS_OF: dict[str, str] = {"merge": "merged", "keep_apart": "kept_apart", "dismiss": "dismissed"}
STATUSES = ("open", "merged", "kept_apart", "dismissed")
MAX_REASON = 500


class ResolutionError(ValueError):
    """The operation cannot be done as asked (unknown profile or item, already decided, rules refuse); the
    message says why and never carries personal values."""


@dataclass(frozen=True)
class MergeOutcome:
    merge_id: str
    root_id: str


@dataclass(frozen=True)
class ReviewView:
    id: str
    profile_ids: list[str]
    reason: str
    identifier_kind: str
    origin: str
    status: str
    probability: float | None
    explanation: dict[str, dict[str, object]]
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None


def authorize(access: AccessContext, *, action: str, field: str) -> None:
    """Staff, for purpose identity_resolution, holding `action` on user.unique_id; AccessDenied otherwise."""
    access.forbid_subject_tokens()
    if access.purpose != PURPOSE and PURPOSE not in access.purposes.ancestors(access.purpose):
        raise AccessDenied(access.principal.role, access.purpose, action, CATEGORY, field)
    access.require(CATEGORY, action=action, field=field)


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ResolutionError("reason: required (say why, without customer data)")
    if len(text) > MAX_REASON:
        raise ResolutionError(f"reason: longer than {MAX_REASON} characters")
    return text


def _exists(session: Session, *profile_ids: str) -> None:
    for profile_id in profile_ids:
        if session.get(Profile, profile_id) is None:
            raise ResolutionError(f"no profile with id {profile_id}")


def _members(session: Session, profile_ids: list[str]) -> list[str]:
    roots = {resolve.root_of(session, p) for p in profile_ids}
    return sorted({m for root in roots for m in resolve.group_members(session, root)})


def merge(
    session: Session,
    store: Store,
    access: AccessContext,
    survivor_id: str,
    absorbed_id: str,
    *,
    reason: str,
    override_rules: bool = False,
) -> MergeOutcome:
    """Merge two customers; the identity rules and keep-apart decisions hold unless overridden knowingly."""
    authorize(access, action="write", field="mergeProfiles")
    why = _reason(reason)
    _exists(session, survivor_id, absorbed_id)
    try:
        merge_id = resolve.merge_profiles(
            session,
            store.keystore,
            survivor_id,
            absorbed_id,
            actor=access.principal.key_id,
            reason=why,
            override_rules=override_rules,
        )
    except resolve.MergeError as exc:
        raise ResolutionError(str(exc)) from None
    root = resolve.root_of(session, survivor_id)
    audit_in(
        session,
        access,
        operation="identity.merge",
        document=f"merge {absorbed_id} into {survivor_id}",
        outcome="allowed",
        subject_ids=_members(session, [root]),
        categories=[CATEGORY],
        detail=f"merge {merge_id}{' (rules overridden)' if override_rules else ''}: {why}",
    )
    return MergeOutcome(merge_id, root)


def unmerge(session: Session, access: AccessContext, profile_id: str, *, reason: str) -> MergeRecord:
    """Separate the profile from the group it was merged into; the two parts are kept apart from now on."""
    authorize(access, action="write", field="unmergeProfile")
    why = _reason(reason)
    _exists(session, profile_id)
    try:
        record = resolve.unmerge(session, profile_id, actor=access.principal.key_id, reason=why)
    except resolve.MergeError as exc:
        raise ResolutionError(str(exc)) from None
    audit_in(
        session,
        access,
        operation="identity.unmerge",
        document=f"unmerge {profile_id}",
        outcome="allowed",
        subject_ids=_members(session, [record.survivor_id, profile_id]),
        categories=[CATEGORY],
        detail=f"unmerge of merge {record.id}; kept apart: {why}",
    )
    return record


def review_items(
    session: Session,
    access: AccessContext,
    *,
    status: str = "open",
    origin: str | None = None,
    first: int = 20,
    after: str | None = None,
) -> list[ReviewView]:
    """Review items oldest first (keyset on created_at, id; `after` is the last item's id)."""
    authorize(access, action="read", field="reviewItems")
    if status not in STATUSES:
        raise ResolutionError(f"status: unknown {status!r}; expected one of {', '.join(STATUSES)}")
    query = select(ReviewItem).where(col(ReviewItem.status) == status)
    if origin is not None:
        query = query.where(col(ReviewItem.origin) == origin)
    if after is not None:
        last = session.get(ReviewItem, after)
        if last is None:
            raise ResolutionError(f"after: no review item with id {after}")
        query = query.where(
            (col(ReviewItem.created_at) > last.created_at)
            | ((col(ReviewItem.created_at) == last.created_at) & (col(ReviewItem.id) > last.id))
        )
    rows = list(session.execute(query.order_by(col(ReviewItem.created_at), col(ReviewItem.id)).limit(first)).scalars())
    if rows:
        audit_in(
            session,
            access,
            operation="identity.review_items",
            document=f"review items {status}",
            outcome="allowed",
            subject_ids=sorted({p for r in rows for p in r.profile_ids.split(",")}),
            categories=[CATEGORY],
        )
    return [view(r) for r in rows]


def view(row: ReviewItem) -> ReviewView:
    return ReviewView(
        id=row.id,
        profile_ids=row.profile_ids.split(","),
        reason=row.reason,
        identifier_kind=row.identifier_kind,
        origin=row.origin,
        status=row.status,
        probability=row.probability,
        explanation=json.loads(row.explanation) if row.explanation else {},
        created_at=row.created_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


def decide(
    session: Session, store: Store, access: AccessContext, item_id: str, decision: str, *, reason: str
) -> ReviewView:
    """Answer an open review item: merge its customers (a person's decision overrides the rule that opened
    it), keep them apart for good, or dismiss it. Either way the same profiles are not asked about again."""
    authorize(access, action="write", field="decideReviewItem")
    why = _reason(reason)
    if decision not in STATUS_OF:
        raise ResolutionError(f"decision: unknown {decision!r}; expected one of {', '.join(STATUS_OF)}")
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ResolutionError(f"no review item with id {item_id}")
    if item.status != "open":
        raise ResolutionError(f"review item {item_id} was already decided ({item.status})")
    profile_ids = item.profile_ids.split(",")
    actor = access.principal.key_id
    detail = why
    if decision == "merge":
        detail = f"merges {', '.join(_merge_all(session, store, profile_ids, actor=actor, reason=why))}: {why}"
    elif decision == "keep_apart":
        for i, a in enumerate(profile_ids):
            for b in profile_ids[i + 1 :]:
                resolve.keep_apart(session, a, b, actor=actor, reason=why, review_item_id=item.id)
    session.execute(
        update(ReviewItem)
        .where(col(ReviewItem.id) == item.id)
        .values(status=STATUS_OF[decision], decided_by=actor, decided_at=utcnow(), decision_reason=why)
    )
    session.refresh(item)
    audit_in(
        session,
        access,
        operation=f"identity.review.{decision}",
        document=f"decide review item {item.id}",
        outcome="allowed",
        subject_ids=_members(session, profile_ids),
        categories=[CATEGORY],
        detail=f"{decision}: {detail}",
    )
    return view(item)


def _merge_all(session: Session, store: Store, profile_ids: list[str], *, actor: str, reason: str) -> list[str]:
    """Merge every group of the item into the oldest; groups already joined are skipped."""
    roots = sorted(
        {resolve.root_of(session, p) for p in profile_ids},
        key=lambda r: (session.get(Profile, r).created_at, r),  # type: ignore[union-attr]
    )
    return [
        resolve.merge_profiles(
            session, store.keystore, roots[0], absorbed, actor=actor, reason=reason, override_rules=True
        )
        for absorbed in roots[1:]
    ]
