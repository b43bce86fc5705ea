"""Erasure by crypto-shredding.

Order matters, so it runs in two steps, each the door's own transaction:
1. `begin`: suppress the subject's identifiers (keyed hashes: from now on nothing of theirs is ingested),
   move rows under a legal hold (e.g. orders kept for tax law) to a separate per-profile hold key so shredding
   does not destroy what the law requires us to keep, delete identities (with their blind indexes), traits,
   events, merge records and consent records, revoke the subject's tokens, tombstone the profiles (status
   "erased"); audited. The hold keys are durable before this commits (`Store.transaction`).
2. `finish`, once that is committed: shred every data key of the merge group in the key store — every
   remaining ciphertext of the subject, in every backup of the database, is unreadable from here on — then
   audit, issue the certificate and queue the downstream notifications.
A crash between the steps leaves the request in_progress with its profiles erased; running it again finishes
the job (shredding is idempotent).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import CursorResult, Result, delete, select, update
from sqlmodel import Session, col

from audit.models import AuditEntry
from cdp.access.gate import AccessContext
from cdp.auth.models import ApiKey
from cdp.crypto.cipher import DecryptionError, key_id_of
from cdp.dsr.common import audit_dsr, held_categories, subject_group
from cdp.dsr.models import DsrRequest, LegalHold, Suppression
from cdp.events.models import Event, delete_events
from cdp.identity.models import Identity, MergeRecord, Profile
from cdp.ids import utcnow
from cdp.outbox import service as outbox
from cdp.profiles.models import Trait
from cdp.retention.policy import RetentionPolicy, hold_key_owner, retention_policy
from cdp.segments.models import SegmentMembership
from cdp.store import Store
from cdp.traits.models import ComputedTrait
from consent.models import ConsentRecord


def begin(session: Session, store: Store, access: AccessContext, request: DsrRequest) -> None:
    """Step 1: everything but the keys, in the caller's transaction. The summary waits in the certificate
    column for step 2."""
    policy = retention_policy()
    group = subject_group(session, access, request)
    members = group.member_ids
    categories = held_categories(session, members)
    for category in categories:
        access.require(category, action="erase")
    suppressed = _suppress(session, members, request.id)
    holds = _hold(session, store, members, request.id, policy)
    held_types = [t for h in policy.holds for t in h.event_types]
    erased = _delete_rows(session, members, held_types)
    session.execute(update(Profile).where(col(Profile.id).in_(members)).values(status="erased"))
    summary = {
        "request_id": request.id,
        "profile_ids": sorted(members),
        "erased_rows": erased,
        "categories": categories,
        "suppressed_identifiers": suppressed,
        "retained_under_legal_hold": holds,
    }
    audit_dsr(session, access, request.id, "erasure", subject_ids=members, categories=categories, document=summary)
    request.certificate = json.dumps(summary, sort_keys=True)


def finish(session: Session, store: Store, access: AccessContext, request: DsrRequest) -> tuple[DsrRequest, dict]:
    """Step 2, after step 1 committed: shred the group's data keys, issue the certificate, notify downstream."""
    members = subject_group(session, access, request).member_ids
    summary = json.loads(request.certificate or "{}")
    keys_destroyed = store.keystore.shred(members)
    audit_dsr(session, access, request.id, "keys_shredded", subject_ids=members, categories=[],
              document={"data_keys_destroyed": keys_destroyed})  # fmt: skip
    notified = outbox.enqueue_erasure(session, request.id, members)
    certificate = {
        "certificate": "erasure",
        "issued_at": utcnow().isoformat(),
        **summary,
        "data_keys_destroyed": keys_destroyed,
        "downstream_notifications": notified,
        "audit_entry_ids": _audit_ids(session, request.id),
    }
    request.certificate = json.dumps(certificate, sort_keys=True)
    request.status, request.closed_at = "completed", utcnow()
    return request, certificate


def _suppress(session: Session, members: list[str], request_id: str) -> dict[str, int]:
    rows = session.execute(
        select(col(Identity.kind), col(Identity.blind_index)).where(col(Identity.profile_id).in_(members))
    )
    fresh = {(kind, bytes(index)) for kind, index in rows}
    if fresh:
        known = {
            (kind, bytes(index))
            for kind, index in session.execute(
                select(col(Suppression.kind), col(Suppression.blind_index)).where(
                    col(Suppression.blind_index).in_([index for _, index in fresh])
                )
            )
        }
        for kind, index in sorted(fresh - known):
            session.add(Suppression(kind=kind, blind_index=index, request_id=request_id))
        session.flush()
    return dict(Counter(kind for kind, _ in fresh))


def _hold(session: Session, store: Store, members: list[str], request_id: str, policy: RetentionPolicy) -> list[dict]:
    """Re-encrypt held rows under each member's hold key; record each hold with its basis."""
    held_types = sorted({t for h in policy.holds for t in h.event_types})
    if not held_types:
        return []
    rows = session.execute(
        select(
            col(Event.id), col(Event.occurred_at), col(Event.profile_id), col(Event.type), col(Event.properties_ct)
        ).where(col(Event.profile_id).in_(members), col(Event.type).in_(held_types))
    ).all()
    keystore = store.keystore
    counts: Counter[tuple[str, str]] = Counter()
    keyed: set[str] = set()
    updates = []
    for event_id, occurred_at, profile_id, event_type, blob in rows:
        owner = hold_key_owner(profile_id)
        counts[(profile_id, event_type)] += 1
        if owner not in keyed:
            if not _has_key(store, owner):
                keystore.new_data_key(owner)
            keyed.add(owner)
        if _is_held(store, blob, owner):
            continue  # a resumed erasure: already moved
        plain = keystore.decrypt(profile_id, "event", "properties", event_id, blob)
        sealed = keystore.encrypt(owner, "event", "properties", event_id, plain)
        updates.append({"id": event_id, "occurred_at": occurred_at, "properties_ct": sealed})  # the primary key
    if updates:
        session.execute(update(Event), updates)
    already = {
        (h.profile_id, h.event_type)
        for h in session.execute(select(LegalHold).where(col(LegalHold.profile_id).in_(members))).scalars()
    }
    holds = []
    for (profile_id, event_type), count in sorted(counts.items()):
        hold = policy.hold_for(event_type)
        assert hold is not None  # the rows were selected by the held types
        basis = hold.basis
        if (profile_id, event_type) not in already:
            session.add(
                LegalHold(profile_id=profile_id, request_id=request_id, event_type=event_type, rows=count, basis=basis)
            )
        holds.append({"profile_id": profile_id, "event_type": event_type, "rows": count, "basis": basis})
    return holds


def _has_key(store: Store, owner: str) -> bool:
    try:
        store.keystore.key_for_profile(owner)
    except DecryptionError:
        return False
    return True


def _is_held(store: Store, blob: bytes, owner: str) -> bool:
    try:
        return store.keystore.key_by_id(key_id_of(blob)).profile_id == owner
    except DecryptionError:
        return False


def _delete_rows(session: Session, members: list[str], held_types: list[str]) -> dict[str, int]:
    """Delete everything personal of the group except held rows; returns counts per table."""
    statements = {
        "identities": delete(Identity).where(col(Identity.profile_id).in_(members)),
        "traits": delete(Trait).where(col(Trait.profile_id).in_(members)),
        "merge_records": delete(MergeRecord).where(
            col(MergeRecord.survivor_id).in_(members) | col(MergeRecord.absorbed_id).in_(members)
        ),
        "consent_records": delete(ConsentRecord).where(col(ConsentRecord.profile_id).in_(members)),
        "computed_traits": delete(ComputedTrait).where(col(ComputedTrait.profile_id).in_(members)),
        "segment_memberships": delete(SegmentMembership).where(col(SegmentMembership.profile_id).in_(members)),
        "tokens_revoked": update(ApiKey)
        .where(col(ApiKey.profile_id).in_(members), col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=utcnow()),
    }
    counts = {name: _rowcount(session.execute(statement)) for name, statement in statements.items()}
    counts["events"] = delete_events(session, col(Event.profile_id).in_(members), col(Event.type).not_in(held_types))
    return counts


def _rowcount(result: Result[Any]) -> int:
    assert isinstance(result, CursorResult)  # what a DELETE or UPDATE returns
    return result.rowcount


def _audit_ids(session: Session, request_id: str) -> list[str]:
    return list(
        session.execute(
            select(col(AuditEntry.id))
            .where(col(AuditEntry.detail) == f"dsr_request {request_id}")
            .order_by(col(AuditEntry.seq))
        ).scalars()
    )
