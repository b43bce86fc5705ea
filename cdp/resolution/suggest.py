"""Probabilistic match suggestions: a governed read of the match fields, Splink in memory, review items.

The fields Splink compares (names, birthday, address, email, phone) are decrypted here, under the caller's
grants, into memory only (matching.Matcher's DuckDB never writes to disk). A full run trains the model with
EM on the store's own customers and saves it (aggregate m/u figures, no values); an incremental run scores
only the given customers against their blocking candidates with the saved model. Likely matches become
review items carrying the probability and per-field match weights; nothing merges unless auto-merge is
switched on in policies/identity.yaml, and then only with enough agreeing strong fields.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.dictionary import dictionary
from cdp.identity import resolve
from cdp.identity.models import Identity, Profile
from cdp.identity.rules import identity_rules
from cdp.profiles.models import Trait
from cdp.resolution.service import CATEGORY, authorize
from cdp.store import Store

if TYPE_CHECKING:
    from cdp.resolution.matching import Match

TRAITS = {"first_name": "first_name", "last_name": "last_name", "birthday": "birthday", "city": "city",
          "postal_code": "postal_code", "address_line1": "address"}  # fmt: skip
IDENTIFIERS = {"email": "email", "phone": "phone"}
MODEL_FILE = "identity_model.json"
MIN_RECORDS = 50  # below this EM has too few pairs to learn from


@dataclass(frozen=True)
class SuggestionRun:
    compared_profiles: int
    candidate_pairs: int
    review_items: int
    auto_merged: int
    trained: bool


def categories() -> list[str]:
    fields = dictionary()
    found = [fields.trait(name).category for name in TRAITS] + [fields.identifier(k).category for k in IDENTIFIERS]
    return sorted(set(found))


def read_match_fields(session: Session, store: Store, access: AccessContext) -> dict[str, dict[str, Any]]:
    """Root profile id -> the newest value of each match field in its group, decrypted. Active customers
    only: erased and restricted ones are not processed for matching."""
    authorize(access, action="read", field="identitySuggestions")
    for category in categories():
        access.require(category, action="read", field="identitySuggestions")
    parent: dict[str, str | None] = {}
    status: dict[str, str] = {}
    for pid, merged_into, state in session.execute(
        select(col(Profile.id), col(Profile.merged_into), col(Profile.status))
    ):
        parent[pid], status[pid] = merged_into, state
    root = {pid: _root(parent, pid) for pid in parent}
    keystore = store.keystore
    newest: dict[str, dict[str, tuple[Any, Any]]] = defaultdict(dict)  # root -> field -> (time, value)
    for row in session.execute(select(Identity).where(col(Identity.kind).in_(list(IDENTIFIERS)))).scalars():
        value = keystore.decrypt(row.profile_id, "identity", "value", row.id, row.value_ct)
        _keep(newest[root[row.profile_id]], IDENTIFIERS[row.kind], row.created_at, value)
    for row in session.execute(select(Trait).where(col(Trait.name).in_(list(TRAITS)))).scalars():
        value = json.loads(keystore.decrypt(row.profile_id, "trait", "value", row.id, row.value_ct))
        _keep(newest[root[row.profile_id]], TRAITS[row.name], row.updated_at, value)
    return {
        r: {name: value for name, (_, value) in fields.items()}
        for r, fields in newest.items()
        if status.get(r) == "active"
    }


def _root(parent: dict[str, str | None], pid: str) -> str:
    for _ in range(1000):
        up = parent.get(pid)
        if up is None:
            return pid
        pid = up
    raise RuntimeError("merge chain does not end")


def _keep(fields: dict[str, tuple[Any, Any]], name: str, at: Any, value: Any) -> None:  # noqa: ANN401
    if value is not None and (name not in fields or fields[name][0] <= at):
        fields[name] = (at, value)


def suggest(
    session: Session,
    store: Store,
    access: AccessContext,
    *,
    profile_ids: list[str] | None = None,
    retrain: bool = False,
) -> SuggestionRun:
    """Score customers with Splink and open review items for likely matches (or auto-merge, if enabled).
    With profile_ids: only those customers against their blocking candidates, with the saved model."""
    authorize(access, action="write", field="suggestMatches")
    fields = read_match_fields(session, store, access)
    if len(fields) < MIN_RECORDS:
        return _audited(session, access, SuggestionRun(len(fields), 0, 0, 0, False), list(fields))
    config = identity_rules()
    model_path = Path(store.settings.data_dir) / MODEL_FILE
    model = json.loads(model_path.read_text()) if model_path.exists() and not retrain else None
    from cdp.resolution.matching import Matcher, NotEnoughData, record  # Splink and DuckDB load only when used

    matcher = Matcher([record(r, values) for r, values in fields.items()], model)
    try:
        trained = model is None
        if trained:
            try:
                matcher.train()
            except NotEnoughData:
                return _audited(session, access, SuggestionRun(len(fields), 0, 0, 0, False), list(fields))
            model_path.parent.mkdir(parents=True, exist_ok=True)
            model_path.write_text(json.dumps(matcher.model()))
        if profile_ids is None:
            matches, compared = matcher.predict(config.min_probability), list(fields)
        else:
            roots = sorted({resolve.root_of(session, p) for p in profile_ids} & fields.keys())
            matches = matcher.predict_for(roots, config.min_probability)
            compared = sorted(set(roots) | {m.left for m in matches} | {m.right for m in matches})
    finally:
        matcher.close()
    items, merged = _record(session, store, access, matches)
    return _audited(session, access, SuggestionRun(len(compared), len(matches), items, merged, trained), compared)


def _record(session: Session, store: Store, access: AccessContext, matches: list[Match]) -> tuple[int, int]:
    """Review items for the matches (not for customers already joined or kept apart by a person); merges
    where auto-merge is on and the match is certain enough."""
    from cdp.resolution.matching import dumps

    auto = identity_rules().auto_merge
    resolver = resolve.BatchResolver(session, store.keystore)
    resolver.load_groups({p for m in matches for p in (m.left, m.right)})
    to_merge: list[Match] = []
    items = 0
    for match in sorted(matches, key=lambda m: -m.probability):
        left, right = resolver.root_of(match.left), resolver.root_of(match.right)
        if left == right or resolver.kept_apart(left, [right]):
            continue
        if (
            auto.enabled
            and match.probability >= auto.min_probability
            and len(match.agreeing_strong_fields()) >= auto.min_agreeing_strong_fields
        ):
            to_merge.append(match)
            continue
        reason = f"suggested match, probability {match.probability:.4f}"
        item = resolver.review(
            [left, right], [reason], [], None, origin="suggestion", probability=match.probability,
            explanation=dumps(match.explanation),
        )  # fmt: skip
        items += item is not None
    resolver.flush()
    merged = 0
    for match in to_merge:
        try:
            resolve.merge_profiles(
                session, store.keystore, match.left, match.right, actor=access.principal.key_id,
                reason=f"auto-merge: probability {match.probability:.4f}, agreeing "
                + ", ".join(match.agreeing_strong_fields()),
            )  # fmt: skip
            merged += 1
        except resolve.MergeError:
            continue  # the rules refuse it, or an earlier merge of this run already joined them
    return items, merged


def _audited(session: Session, access: AccessContext, run: SuggestionRun, compared: list[str]) -> SuggestionRun:
    audit_in(
        session,
        access,
        operation="identity.suggest",
        document="identity suggestions" + (" (trained)" if run.trained else ""),
        outcome="allowed",
        subject_ids=sorted(compared),
        categories=[*categories(), CATEGORY],
        detail=f"{run.compared_profiles} profiles, {run.candidate_pairs} pairs, {run.review_items} review items, "
        f"{run.auto_merged} auto-merged",
    )
    return run
