"""Erasure by crypto-shredding.

Order matters, so it runs in three steps:
1. one transaction: suppress the subject's identifiers (keyed hashes: from now on nothing of theirs is
   ingested) and move rows under a legal hold (e.g. orders kept for tax law) to a separate per-profile hold
   key, so shredding does not destroy what the law requires us to keep;
2. shred every data key of the merge group in the key store: every remaining ciphertext of the subject,
   in the live database and in every backup of it, is unreadable from here on;
3. one transaction: delete identities (with their blind indexes), traits, events, merge records, consent
   records; revoke their tokens; tombstone the profiles (status "erased", no personal data); audit; issue
   the certificate; queue the downstream notifications.
A crash between steps leaves the request in_progress; running it again finishes the job (every step is
idempotent).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session

from audit.models import AuditEntry
from cdp.access.gate import AccessContext
from cdp.auth.models import ApiKey
from cdp.categories import event_category
from cdp.crypto.cipher import DecryptionError, key_id_of
from cdp.dsr.common import audit_dsr, get_request, held_categories, subject_group
from cdp.dsr.models import DsrRequest, LegalHold, Suppression
from cdp.events.models import Event
from cdp.identity.models import Identity, MergeRecord, Profile
from cdp.ids import utcnow
from cdp.profiles.models import Trait
from cdp.retention.policy import RetentionPolicy, retention_policy
from cdp.segments.models import SegmentMembership
from cdp.store import Store
from cdp.traits.models import ComputedTrait
from cdp.webhooks import outbox
from consent.models import ConsentRecord

_HOLD_NAMESPACE = uuid.UUID("5b7c2f0e-8d1a-4c55-9a57-2f0f4c1e6a11")


def hold_key_owner(profile_id: str) -> str:
    """The key-store owner id of a profile's legal-hold key: not the profile id, so shredding the profile's
    keys leaves it alone; a UUID, so it fits the key store's column."""
    return str(uuid.uuid5(_HOLD_NAMESPACE, profile_id))


def read_held_properties(store: Store, access: AccessContext, event_id: str) -> dict[str, Any]:
    """An event kept under a legal hold, for the purposes allowed to process it (legal_compliance)."""
    if access.purpose != "legal_compliance":
        raise PermissionError("rows under a legal hold are processed for legal_compliance only")
    with store.session() as session:
        profile_id, event_type, blob = session.execute(
            select(Event.profile_id, Event.type, Event.properties_ct).where(Event.id == event_id)
        ).one()
    access.require(event_category(event_type))
    owner = hold_key_owner(profile_id)
    return json.loads(store.keystore.decrypt(owner, "event", "properties", event_id, blob))


def erase(store: Store, access: AccessContext, request: DsrRequest) -> tuple[DsrRequest, dict[str, Any]]:
    """Erase the request's subject (its whole merge group); returns the request and the certificate."""
    policy = retention_policy()
    with store.session() as session:
        group = subject_group(session, access, request)
        members = group.member_ids
        categories = held_categories(session, members)
        for category in categories:
            access.require(category, action="erase")
        suppressed = _suppress(session, members, request.id)
        holds = _hold(session, store, members, request.id, policy)
        store.keystore.flush()  # the hold keys are durable before the rows that need them
        session.commit()

    keys_destroyed = store.keystore.shred(members)

    with store.session() as session:
        held_types = [t for h in policy.holds for t in h.event_types]
        erased = _delete_rows(session, members, held_types)
        session.execute(update(Profile).where(Profile.id.in_(members)).values(status="erased"))
        summary = {
            "request_id": request.id,
            "profile_ids": sorted(members),
            "data_keys_destroyed": keys_destroyed,
            "erased_rows": erased,
            "categories": categories,
            "suppressed_identifiers": suppressed,
            "retained_under_legal_hold": holds,
        }
        audit_dsr(session, access, request.id, "erasure", subject_ids=members, categories=categories,
                  document=summary)  # fmt: skip
        notified = outbox.enqueue_erasure(session, request.id, members)
        live = get_request(session, access, request.id)
        certificate = {
            "certificate": "erasure",
            "issued_at": utcnow().isoformat(),
            **summary,
            "downstream_notifications": notified,
            "audit_entry_ids": _audit_ids(session, request.id),
        }
        live.certificate = json.dumps(certificate, sort_keys=True)
        live.status, live.closed_at = "completed", utcnow()
        session.commit()
    return live, certificate


def _suppress(session: Session, members: list[str], request_id: str) -> dict[str, int]:
    rows = session.execute(select(Identity.kind, Identity.blind_index).where(Identity.profile_id.in_(members)))
    fresh = {(kind, bytes(index)) for kind, index in rows}
    if fresh:
        known = {
            (kind, bytes(index))
            for kind, index in session.execute(
                select(Suppression.kind, Suppression.blind_index).where(
                    Suppression.blind_index.in_([index for _, index in fresh])
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
        select(Event.id, Event.profile_id, Event.type, Event.properties_ct).where(
            Event.profile_id.in_(members), Event.type.in_(held_types)
        )
    ).all()
    keystore = store.keystore
    counts: Counter[tuple[str, str]] = Counter()
    keyed: set[str] = set()
    updates = []
    for event_id, profile_id, event_type, blob in rows:
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
        updates.append({"id": event_id, "properties_ct": sealed})
    if updates:
        session.execute(update(Event), updates)
    already = {
        (h.profile_id, h.event_type)
        for h in session.execute(select(LegalHold).where(LegalHold.profile_id.in_(members))).scalars()
    }
    holds = []
    for (profile_id, event_type), count in sorted(counts.items()):
        basis = policy.hold_for(event_type).basis  # type: ignore[union-attr] - held types come from the holds
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
        "identities": delete(Identity).where(Identity.profile_id.in_(members)),
        "traits": delete(Trait).where(Trait.profile_id.in_(members)),
        "events": delete(Event).where(Event.profile_id.in_(members), Event.type.not_in(held_types)),
        "merge_records": delete(MergeRecord).where(
            MergeRecord.survivor_id.in_(members) | MergeRecord.absorbed_id.in_(members)
        ),
        "consent_records": delete(ConsentRecord).where(ConsentRecord.profile_id.in_(members)),
        "computed_traits": delete(ComputedTrait).where(ComputedTrait.profile_id.in_(members)),
        "segment_memberships": delete(SegmentMembership).where(SegmentMembership.profile_id.in_(members)),
        "tokens_revoked": update(ApiKey)
        .where(ApiKey.profile_id.in_(members), ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow()),
    }
    return {name: session.execute(statement).rowcount for name, statement in statements.items()}


def _audit_ids(session: Session, request_id: str) -> list[str]:
    return list(
        session.execute(
            select(AuditEntry.id).where(AuditEntry.detail == f"dsr_request {request_id}").order_by(AuditEntry.seq)
        ).scalars()
    )
