"""Every governed write refuses a wrong role, a wrong purpose and another subject's token — at the service,
so the CLI, webhooks, pages and GraphQL are all covered — and changes nothing when it refuses.

Each row: the write, then who tries it. The expectations are written by hand from policies/policy.csv.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.compliance import incidents
from cdp.consents import service as consents
from cdp.dsr import service as dsr
from cdp.identity.models import Identity, MergeRecord, ReviewItem
from cdp.ingest.service import ingest
from cdp.ingest.sources import create_source
from cdp.outbox import service as outbox
from cdp.outbox.models import OutboxDelivery
from cdp.resolution import reindex as reindexing
from cdp.resolution import service as resolution
from cdp.resolution import suggest
from cdp.retention.service import run_retention
from cdp.segments import service as segments
from cdp.segments.language import parse
from cdp.store import Store
from cdp.traits.service import compute_all
from policies.errors import AccessDenied
from tests import dsr_helpers as doors
from tests import reads
from tests.dsr_helpers import OFFICER
from tests.factories import email_in_old_form, event, ingest_all, order

Write = Callable[[Store, AccessContext, dict[str, str]], object]


def _as(role: str, purpose: str, profile_id: str | None = None) -> AccessContext:
    return AccessContext.for_principal(Principal(f"test:{role}", role, role, profile_id), purpose)


def _ingest(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    outcomes = store.run(lambda s: ingest(s, store, access, [event({"email": "victim@example.com"})]))
    if outcomes[0].status == "rejected":  # ingest reports per event; a refusal is an AccessDenied message
        raise AccessDenied(access.principal.role, access.purpose, "write", "*", None)
    return outcomes


def _consent(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(
        lambda s: consents.record_consent(
            s, access, profile_id=ids["victim"], purpose="marketing.email", status="granted", source="api"
        )
    )


def _rectify(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return doors.execute(store, access, ids["rectification"], traits={"first_name": "Changed"})


def _verify(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return doors.mark_verified(store, access, ids["received"], "called back")


def _extend(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return doors.extend_deadline(store, access, ids["received"], extension=dsr.deadlines.Period(months=1), reason="x")


def _refuse(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return doors.refuse(store, access, ids["received"], "not the account holder")


def _erase(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return doors.execute(store, access, ids["erasure"])


def _lift(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: dsr.lift_restriction(s, access, ids["restriction"]))


def _retention(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: run_retention(s, store, access, dry_run=False))


def _reindex(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: reindexing.reindex_identifiers(s, store, access))


def _register_destination(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(
        lambda s: outbox.register_destination(
            s, store, access, name="exfil", url="https://attacker.example/hook", secret="s3cret-s3cret-s3cret"
        )
    )


def _replay(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: outbox.replay(s, access, ids["dead_delivery"]))


def _create_source(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(
        lambda s: create_source(
            s, access, name="rogue", role="frontend_app", purpose="order_fulfillment", roles={"frontend_app"}
        )
    )


def _merge(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: resolution.merge(s, store, access, ids["attacker"], ids["victim"], reason="mine"))


def _unmerge(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: resolution.unmerge(s, access, ids["twin_b"], reason="not the same person"))


def _decide(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: resolution.decide(s, store, access, ids["review"], "merge", reason="same person"))


def _suggest(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: suggest.suggest(s, store, access))


def _open_incident(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    now = datetime.now(UTC)
    return store.run(lambda s: incidents.open_incident(s, access, title="t", description="", aware_at=now))


def _assess_incident(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    until = datetime.now(UTC)
    since = until - timedelta(days=1)
    return store.run(lambda s: incidents.assess(s, access, ids["incident"], since=since, until=until))


def _update_incident(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: incidents.add_update(s, access, ids["incident"], "contained"))


def _notify_incident(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: incidents.record_notification(s, access, ids["incident"], "EU"))


def _close_incident(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: incidents.close_incident(s, access, ids["incident"], "nothing left public"))


def _compute_traits(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(lambda s: compute_all(s, store, access))


def _create_segment(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    spec = parse({"name": "buyers", "where": {"field": "order_count", "op": "gte", "value": 1}})
    return store.run(lambda s: segments.create_segment(s, access, spec))


def _create_request(store: Store, access: AccessContext, ids: dict[str, str]) -> object:
    return store.run(
        lambda s: dsr.create_request(s, store, access, kind="erasure", profile_id=ids["victim"], source="api")
    )


WRITES: dict[str, Write] = {
    "ingest": _ingest,
    "consent": _consent,
    "rectify": _rectify,
    "confirm identity": _verify,
    "extend deadline": _extend,
    "refuse": _refuse,
    "erase": _erase,
    "lift restriction": _lift,
    "retention": _retention,
    "reindex identifiers": _reindex,
    "register destination": _register_destination,
    "replay delivery": _replay,
    "create source": _create_source,
    "merge": _merge,
    "unmerge": _unmerge,
    "decide review item": _decide,
    "suggest matches": _suggest,
    "open incident": _open_incident,
    "assess incident": _assess_incident,
    "update incident": _update_incident,
    "record notification": _notify_incident,
    "close incident": _close_incident,
    "compute traits": _compute_traits,
    "create segment": _create_segment,
    "create request": _create_request,
}
# (write, role, purpose, as the attacker's own subject token) -> refused. Hand-written from policy.csv.
REFUSALS = [
    ("ingest", "analyst", "analytics", False),  # analysts never write
    ("ingest", "marketing_tool", "marketing.email", False),  # no write on user.behavior.browsing/identify
    ("ingest", "data_subject", "data_subject_rights", True),  # someone else's email
    ("consent", "analyst", "analytics", False),
    ("consent", "support_agent", "support", False),  # reads consent, never records it
    ("consent", "data_subject", "data_subject_rights", True),
    ("rectify", "support_agent", "support", False),  # wrong purpose for data-subject requests
    ("rectify", "frontend_app", "data_subject_rights", False),  # the queue is not the storefront's
    ("rectify", "data_subject", "data_subject_rights", True),
    ("confirm identity", "analyst", "data_subject_rights", False),
    ("confirm identity", "compliance_officer", "support", False),
    ("confirm identity", "data_subject", "data_subject_rights", True),
    ("extend deadline", "marketing_tool", "data_subject_rights", False),
    ("extend deadline", "compliance_officer", "legal_compliance", False),  # read-only purpose for officers
    ("extend deadline", "data_subject", "data_subject_rights", True),
    ("refuse", "marketing_tool", "data_subject_rights", False),
    ("refuse", "admin", "marketing", False),
    ("refuse", "data_subject", "data_subject_rights", True),
    ("erase", "support_agent", "data_subject_rights", False),
    ("erase", "frontend_app", "order_fulfillment", False),
    ("erase", "data_subject", "data_subject_rights", True),
    ("lift restriction", "support_agent", "data_subject_rights", False),
    ("lift restriction", "compliance_officer", "legal_compliance", False),  # read-only purpose for officers
    ("lift restriction", "data_subject", "data_subject_rights", True),  # staff only, even on one's own
    ("retention", "analyst", "analytics", False),
    ("retention", "marketing_tool", "marketing", False),
    ("retention", "data_subject", "data_subject_rights", True),
    # decrypts and rewrites stored emails and phones: write on them, not only on user.unique_id
    ("reindex identifiers", "support_agent", "identity_resolution", False),  # may merge, may not rewrite contacts
    ("reindex identifiers", "admin", "support", False),
    ("reindex identifiers", "compliance_officer", "legal_compliance", False),
    ("reindex identifiers", "data_subject", "identity_resolution", True),  # staff only
    # where subjects' data is sent: system.destination is written by admins and officers running requests
    ("register destination", "marketing_tool", "marketing", False),  # no rule on system.destination at all
    ("register destination", "compliance_officer", "legal_compliance", False),  # read-only purpose for officers
    ("register destination", "data_subject", "data_subject_rights", True),  # system.* is never the subject's
    ("replay delivery", "support_agent", "support", False),
    ("replay delivery", "compliance_officer", "legal_compliance", False),
    ("replay delivery", "data_subject", "data_subject_rights", True),
    # write keys of intake sources (system.source)
    ("create source", "analyst", "analytics", False),
    ("create source", "frontend_app", "order_fulfillment", False),  # writes an order's categories, not sources
    ("create source", "compliance_officer", "legal_compliance", False),
    ("create source", "data_subject", "data_subject_rights", True),
    # merges and their reviews: write on user.unique_id for purpose identity_resolution
    ("merge", "analyst", "identity_resolution", False),  # analysts never write
    ("merge", "frontend_app", "order_fulfillment", False),  # writes identifiers of orders, merges none
    ("merge", "data_subject", "identity_resolution", True),  # staff only: joining oneself to another customer
    ("unmerge", "marketing_tool", "identity_resolution", False),
    ("unmerge", "admin", "support", False),  # even an admin merges and unmerges for identity_resolution only
    ("unmerge", "data_subject", "identity_resolution", True),
    ("decide review item", "analyst", "identity_resolution", False),
    ("decide review item", "support_agent", "support", False),  # may decide, for identity_resolution
    ("decide review item", "data_subject", "identity_resolution", True),
    ("suggest matches", "marketing_tool", "marketing", False),
    ("suggest matches", "support_agent", "support", False),
    ("suggest matches", "data_subject", "identity_resolution", True),
    # the breach register (system.incident): officers for legal_compliance (and data_subject_rights), admins
    ("open incident", "analyst", "analytics", False),
    ("open incident", "frontend_app", "support", False),
    ("open incident", "data_subject", "data_subject_rights", True),
    ("assess incident", "marketing_tool", "marketing", False),
    ("assess incident", "analyst", "legal_compliance", False),
    ("assess incident", "data_subject", "data_subject_rights", True),
    ("update incident", "support_agent", "legal_compliance", False),
    ("update incident", "data_subject", "data_subject_rights", True),
    ("record notification", "frontend_app", "legal_compliance", False),
    ("record notification", "data_subject", "data_subject_rights", True),
    ("close incident", "analyst", "analytics", False),
    ("close incident", "data_subject", "data_subject_rights", True),
    # recomputes every customer's derived traits (write on user.derived.value)
    ("compute traits", "marketing_tool", "marketing", False),  # reads the scores, never writes them
    ("compute traits", "compliance_officer", "legal_compliance", False),  # read-only purpose for officers
    ("compute traits", "data_subject", "data_subject_rights", True),  # every customer's traits: staff only
    # segment definitions (system.segment): the marketing tool writes them for marketing
    ("create segment", "analyst", "analytics", False),  # reads segments, never defines them
    ("create segment", "support_agent", "support", False),
    ("create segment", "data_subject", "data_subject_rights", True),
    # a data-subject request is recorded for data_subject_rights or legal_compliance, for oneself if a subject
    ("create request", "analyst", "analytics", False),
    ("create request", "support_agent", "support", False),
    ("create request", "data_subject", "data_subject_rights", True),  # an erasure of someone else
]


@pytest.fixture
def world(store: Store) -> dict[str, str]:
    [attacker, victim, _, twin_a, twin_b] = ingest_all(
        store,
        event({"email": "attacker@example.com"}),
        event({"email": "victim@example.com"}, traits={"first_name": "Vera"}),
        order({"email": "victim@example.com"}, occurred_at="2019-01-01T10:00:00+00:00"),
        event({"email": "twin.a@example.com"}),
        event({"email": "twin.b@example.com"}),
    )
    ids = {"attacker": attacker.profile_id, "victim": victim.profile_id, "twin_b": twin_b.profile_id}
    resolver = _as("admin", "identity_resolution")
    store.run(lambda s: resolution.merge(s, store, resolver, twin_a.profile_id, twin_b.profile_id, reason="same"))
    with store.transaction() as s:  # an open question for a person, as the resolver leaves one
        review = ReviewItem(profile_ids=",".join(sorted(ids[k] for k in ("attacker", "victim"))), reason="shared phone",
                            identifier_kind="phone")  # fmt: skip
        s.add(review)
    ids["review"] = review.id
    destination = store.run(
        lambda s: outbox.register_destination(
            s, store, OFFICER, name="esp", url="https://esp.example/hook", secret="esp-secret-esp-secret"
        )  # fmt: skip
    )
    with store.transaction() as s:
        dead = OutboxDelivery(destination_id=destination.id, idempotency_key="dead-1", payload="{}", status="dead")
        s.add(dead)
    ids["dead_delivery"] = dead.id
    officer = _as("compliance_officer", "legal_compliance")
    ids["incident"] = store.run(
        lambda s: incidents.open_incident(
            s, officer, title="Export left public", description="", aware_at=datetime.now(UTC)
        )  # fmt: skip
    ).id
    ids["received"] = doors.create_request(store, OFFICER, kind="access", profile_id=victim.profile_id, source="cli").id
    for kind in ("rectification", "erasure"):
        ids[kind] = doors.verified_request(store, kind, victim.profile_id).id
    [paused] = ingest_all(store, event({"email": "paused@example.com"}))
    ids["restriction"] = doors.verified_request(store, "restriction", paused.profile_id).id
    doors.execute(store, OFFICER, ids["restriction"])
    ids["old_form"] = email_in_old_form(store, victim.profile_id, "V.Ictim+shop@googlemail.com")  # to re-index
    return ids


def _snapshot(store: Store) -> tuple[int, ...]:
    """What a refused write must not have changed: everything but the audit log, which records the refusal."""
    from cdp.compliance.models import Incident, IncidentEvent
    from cdp.dsr.models import DsrRequest
    from cdp.events.models import Event
    from cdp.ingest.sources import IntakeSource
    from cdp.outbox.models import Destination
    from cdp.profiles.models import Trait
    from cdp.segments.models import Segment
    from cdp.traits.models import ComputedTrait, TraitModel
    from consent.models import ConsentRecord

    counted = (Event, Trait, ConsentRecord, MergeRecord, ReviewItem, Destination, IntakeSource, Incident,
               IncidentEvent, Segment, ComputedTrait, TraitModel)  # fmt: skip
    with store.session() as s:
        counts = [s.execute(select(func.count()).select_from(m)).scalar_one() for m in counted]
        states = [
            s.execute(select(*columns)).all()
            for columns in (
                (DsrRequest.status, DsrRequest.due_on),
                (Identity.id, Identity.blind_index),
                (MergeRecord.id, MergeRecord.unmerged_at),
                (ReviewItem.id, ReviewItem.status),
                (OutboxDelivery.id, OutboxDelivery.status),
            )
        ]
    return (*counts, *(hash(tuple(sorted(map(str, rows)))) for rows in states))


@pytest.mark.parametrize(("write", "role", "purpose", "subject"), REFUSALS)
def test_governed_write_refuses(
    store: Store, world: dict[str, str], write: str, role: str, purpose: str, subject: bool
) -> None:
    access = _as(role, purpose, world["attacker"] if subject else None)
    before = _snapshot(store)
    with pytest.raises((AccessDenied, PermissionError)):
        WRITES[write](store, access, world)
    assert _snapshot(store) == before


def test_every_write_has_a_wrong_role_a_wrong_purpose_or_role_and_another_subject_case() -> None:
    for write in WRITES:
        cases = [(role, subject) for w, role, _, subject in REFUSALS if w == write]
        assert any(subject for _, subject in cases), write
        assert any(not subject for _, subject in cases), write


def test_the_allowed_principal_succeeds_and_is_audited(store: Store, world: dict[str, str]) -> None:
    """The rows above fail for the stated reason, not because the write is broken for everyone."""
    officer = _as("compliance_officer", "data_subject_rights")
    doors.mark_verified(store, officer, world["received"], "called back")
    doors.execute(store, officer, world["rectification"], traits={"first_name": "Valeria"})
    _consent(store, _as("frontend_app", "order_fulfillment"), world)
    _reindex(store, _as("admin", "identity_resolution"), world)
    _register_destination(store, _as("compliance_officer", "data_subject_rights"), world)
    _create_segment(store, _as("marketing_tool", "marketing"), world)
    _update_incident(store, _as("compliance_officer", "legal_compliance"), world)
    _decide(store, _as("support_agent", "identity_resolution"), world)
    with store.session() as s:
        operations = set(s.execute(select(AuditEntry.operation).where(AuditEntry.outcome == "allowed")).scalars())
        old_form = s.get(Identity, world["old_form"])
    assert {"dsr:verified", "dsr:rectification", "consent:record", "identity.reindex", "destination:register",
            "segment.create", "incident:update", "identity.review.merge"} <= operations  # fmt: skip
    assert old_form is not None and bytes(old_form.blind_index) == store.indexer.index("email", "victim@gmail.com")


def test_a_storefront_writes_the_customers_own_language_time_zone_and_birthday(store: Store) -> None:
    """An order carries the customer's locale; the account page (purpose customer_account) also the birthday;
    an order may not carry a birthday (order fulfilment has no use for it)."""
    storefront = _as("frontend_app", "order_fulfillment")
    locale = {"language": "de", "timezone": "Europe/Berlin"}
    placed = order({"email": "locale@example.de"}, traits=locale)
    with_birthday = order({"email": "locale@example.de"}, traits={**locale, "birthday": "1990-04-01"})
    outcomes = store.run(lambda s: ingest(s, store, storefront, [placed, with_birthday]))
    assert [o.status for o in outcomes] == ["stored", "rejected"]
    assert "user.demographic.date_of_birth" in outcomes[1].errors[0]
    account = _as("frontend_app", "customer_account")
    edit = event({"email": "locale@example.de"}, traits={"birthday": "1990-04-01", "timezone": "Europe/Vienna"})
    [edited] = store.run(lambda s: ingest(s, store, account, [edit]))
    assert edited.status == "stored"
    with store.session() as s:
        held = reads.traits(s, store, edited.profile_id)
    assert (held["language"].value, held["timezone"].value, held["birthday"].value) == (
        "de",
        "Europe/Vienna",
        "1990-04-01",
    )
