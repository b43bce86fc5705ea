"""`cdp merge`, `cdp unmerge` and `cdp identity ...`: the operator's identity-resolution commands.

Each opens a session, calls one cdp.resolution service as the operator (purpose identity_resolution, gated
and audited), and commits. A refusal is audited too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import typer
from sqlmodel import Session

from cdp.access.audit import audit_now
from cdp.access.gate import AccessContext
from cdp.cli.common import console, fail, open_store
from cdp.resolution import reindex as reindexing
from cdp.resolution import service, suggest
from cdp.store import Store
from policies.errors import AccessDenied

identity_app = typer.Typer(help="Identity resolution: review queue, decisions, suggestions.", no_args_is_help=True)
REASON = typer.Option(..., "--reason", help="Why (audited and stored with the decision; no customer data).")
T = TypeVar("T")


def _run(operation: str, call: Callable[[Store, AccessContext], T]) -> T:
    """One session, one service call, one commit; errors shown without values, refusals audited."""
    store = open_store()
    access = AccessContext.operator(service.PURPOSE)
    try:
        result = call(store, access)
    except AccessDenied as exc:
        audit_now(store, access, operation=operation, document=operation, outcome="denied", detail=str(exc))
        raise fail(str(exc)) from None
    except service.ResolutionError as exc:
        raise fail(str(exc)) from None
    return result


def merge(
    survivor_id: str,
    absorbed_id: str,
    reason: str = REASON,
    override_rules: bool = typer.Option(False, help="Merge even where the identity rules would keep them apart."),
) -> None:
    """Merge ABSORBED_ID's customer into SURVIVOR_ID's (the identity rules still apply unless overridden)."""

    def call(store: Store, access: AccessContext) -> service.MergeOutcome:
        with store.transaction() as session:
            outcome = service.merge(
                session, store, access, survivor_id, absorbed_id, reason=reason, override_rules=override_rules
            )
        return outcome

    outcome = _run("identity.merge", call)
    console.print(f"merged {absorbed_id} into {survivor_id} (merge {outcome.merge_id})")


def unmerge(profile_id: str, reason: str = REASON) -> None:
    """Undo the merge that absorbed PROFILE_ID; the two parts are kept apart from now on."""

    def call(store: Store, access: AccessContext) -> None:
        with store.transaction() as session:
            service.unmerge(session, access, profile_id, reason=reason)

    _run("identity.unmerge", call)
    console.print(f"unmerged {profile_id}")


@identity_app.command("review")
def review(
    status: str = typer.Option("open", help="open | merged | kept_apart | dismissed"),
    origin: str | None = typer.Option(None, help="rule | suggestion (default: both)"),
    first: int = typer.Option(50, min=1, max=500),
) -> None:
    """List review items as JSON lines (ids, reasons, probabilities and match weights; no values)."""

    def call(store: Store, access: AccessContext) -> list[service.ReviewView]:
        with store.transaction() as session:
            rows = service.review_items(session, access, status=status, origin=origin, first=first)
        return rows

    for row in _run("identity.review_items", call):
        print(json.dumps({**row.__dict__, "created_at": row.created_at.isoformat()}, default=str))


@identity_app.command("decide")
def decide(
    item_id: str,
    decision: str = typer.Argument(..., help="merge | keep_apart | dismiss"),
    reason: str = REASON,
) -> None:
    """Answer a review item; the same customers are not asked about again."""

    def call(store: Store, access: AccessContext) -> service.ReviewView:
        with store.transaction() as session:
            item = service.decide(session, store, access, item_id, decision, reason=reason)
        return item

    item = _run("identity.decide", call)
    console.print(f"review item {item.id}: {item.status}")


@identity_app.command("suggest")
def suggest_matches(
    profile: list[str] = typer.Option([], help="Only these customers against their candidates (repeatable)."),
    retrain: bool = typer.Option(False, help="Train the model again even if one is saved."),
) -> None:
    """Find likely duplicates with Splink (in memory) and open review items for them."""

    def call(store: Store, access: AccessContext) -> suggest.SuggestionRun:
        with store.transaction() as session:
            run = suggest.suggest(session, store, access, profile_ids=profile or None, retrain=retrain)
        return run

    run = _run("identity.suggest", call)
    console.print(
        f"compared {run.compared_profiles} customers{' (model trained)' if run.trained else ''}: "
        f"{run.candidate_pairs} likely pairs, {run.review_items} new review items, {run.auto_merged} auto-merged"
    )


@identity_app.command("reindex")
def reindex(
    kind: list[str] = typer.Option([], help="Only identifiers of this kind (repeatable; default: every kind)."),
    batch_size: int = typer.Option(reindexing.BATCH, min=1, max=5000, help="Identifiers per transaction."),
) -> None:
    """Move stored identifiers to their canonical form under policies/identity.yaml (run after changing its
    normalization rules). Batched, audited per batch; a second run changes nothing."""

    def call(store: Store, access: AccessContext) -> Counter[str]:
        totals: Counter[str] = Counter()
        after: str | None = None
        while True:

            def step(session: Session, after: str | None = after) -> reindexing.ReindexBatch:
                return reindexing.reindex_identifiers(
                    session, store, access, kinds=kind or None, after=after, batch_size=batch_size
                )

            batch = store.run(step, attempts=3)  # a concurrent ingest took a canonical form: decided again
            totals.update(batch.counts)
            if batch.finished:
                return totals
            after = batch.last_id

    totals = _run("identity.reindex", call)
    console.print(", ".join(f"{totals[name]} {name.replace('_', ' ')}" for name in reindexing.OUTCOMES))
