"""Identity resolution over GraphQL: merge, unmerge, the review queue and probabilistic suggestions.

Thin resolvers: each parses its arguments, calls one service of cdp.resolution (which gates and audits), and
commits.
"""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from cdp.api.context import RequestContext
from cdp.api.types import Profile, check_first
from cdp.profiles import service as profiles
from cdp.resolution import service as resolution
from cdp.resolution import suggest


@strawberry.enum
class ReviewDecision(enum.Enum):
    merge = "merge"
    keep_apart = "keep_apart"
    dismiss = "dismiss"


@strawberry.type
class ReviewItem:
    id: strawberry.ID
    profile_ids: list[strawberry.ID]
    reason: str
    identifier_kind: str
    origin: str = strawberry.field(description="rule (a merge the rules refused) | suggestion (probabilistic)")
    status: str = strawberry.field(description="open | merged | kept_apart | dismissed")
    probability: float | None = strawberry.field(description="Splink match probability (suggestions)")
    explanation: JSON = strawberry.field(
        description="Per compared field: Splink's match weight and comparison level (no values)"
    )
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, v: resolution.ReviewView) -> ReviewItem:
        return cls(
            id=strawberry.ID(v.id),
            profile_ids=[strawberry.ID(p) for p in v.profile_ids],
            reason=v.reason,
            identifier_kind=v.identifier_kind,
            origin=v.origin,
            status=v.status,
            probability=v.probability,
            explanation=JSON(v.explanation),
            created_at=v.created_at,
            decided_by=v.decided_by,
            decided_at=v.decided_at,
        )


@strawberry.type
class MergeResult:
    merge_id: strawberry.ID
    profile: Profile


@strawberry.type
class SuggestionRun:
    compared_profiles: int
    candidate_pairs: int
    review_items: int
    auto_merged: int


def _ctx(info: strawberry.Info) -> RequestContext:
    return info.context


def _profile(info: strawberry.Info, profile_id: str) -> Profile:
    ctx = _ctx(info)
    return Profile(group=profiles.customer(ctx.session, ctx.access, profile_id))


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="Review items, oldest first: merges the rules refused and suggested matches.")
    def review_items(
        self,
        info: strawberry.Info,
        first: int = 20,
        after: strawberry.ID | None = None,
        status: str = "open",
        origin: str | None = None,
    ) -> list[ReviewItem]:
        ctx = _ctx(info)
        rows = resolution.review_items(
            ctx.session, ctx.access, status=status, origin=origin, first=check_first(first), after=after
        )
        ctx.commit()  # the listing's audit entry
        return [ReviewItem.of(r) for r in rows]

    @strawberry.field(description="Probabilistic match suggestions (Splink) waiting for a decision.")
    def identity_suggestions(
        self, info: strawberry.Info, first: int = 20, after: strawberry.ID | None = None, status: str = "open"
    ) -> list[ReviewItem]:
        ctx = _ctx(info)
        rows = resolution.review_items(
            ctx.session, ctx.access, status=status, origin="suggestion", first=check_first(first), after=after
        )
        ctx.commit()
        return [ReviewItem.of(r) for r in rows]


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(
        description="Merge two customers, giving the reason. The identity rules and keep-apart decisions hold "
        "unless overrideRules is set (a person who checked)."
    )
    def merge_profiles(
        self,
        info: strawberry.Info,
        survivor_id: strawberry.ID,
        absorbed_id: strawberry.ID,
        reason: str,
        override_rules: bool = False,
    ) -> MergeResult:
        ctx = _ctx(info)
        outcome = resolution.merge(
            ctx.session,
            ctx.store,
            ctx.access,
            str(survivor_id),
            str(absorbed_id),
            reason=reason,
            override_rules=override_rules,
        )
        ctx.commit()
        return MergeResult(merge_id=strawberry.ID(outcome.merge_id), profile=_profile(info, outcome.root_id))

    @strawberry.mutation(
        description="Undo the merge that absorbed this profile; both come back exactly and are kept apart."
    )
    def unmerge_profile(self, info: strawberry.Info, profile_id: strawberry.ID, reason: str) -> Profile:
        ctx = _ctx(info)
        resolution.unmerge(ctx.session, ctx.access, str(profile_id), reason=reason)
        ctx.commit()
        return _profile(info, str(profile_id))

    @strawberry.mutation(description="Answer a review item: merge, keep apart (for good) or dismiss.")
    def decide_review_item(
        self, info: strawberry.Info, id: strawberry.ID, decision: ReviewDecision, reason: str
    ) -> ReviewItem:
        ctx = _ctx(info)
        item = resolution.decide(ctx.session, ctx.store, ctx.access, str(id), decision.value, reason=reason)
        ctx.commit()
        return ReviewItem.of(item)

    @strawberry.mutation(
        description="Compare these customers with their blocking candidates (Splink, trained model) and open "
        "review items for likely matches."
    )
    def suggest_matches(self, info: strawberry.Info, profile_ids: list[strawberry.ID]) -> SuggestionRun:
        ctx = _ctx(info)
        run = suggest.suggest(ctx.session, ctx.store, ctx.access, profile_ids=[str(p) for p in profile_ids])
        ctx.commit()
        return SuggestionRun(
            compared_profiles=run.compared_profiles,
            candidate_pairs=run.candidate_pairs,
            review_items=run.review_items,
            auto_merged=run.auto_merged,
        )
