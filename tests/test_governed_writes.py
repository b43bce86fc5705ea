"""Every governed write refuses a wrong role, a wrong purpose and another subject's token — at the service,
so the CLI, webhooks, pages and GraphQL are all covered — and changes nothing when it refuses.

Each row: the write, then who tries it. The expectations are written by hand from policies/policy.csv.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.consents import service as consents
from cdp.dsr import service as dsr
from cdp.identity.models import Identity, MergeRecord, ReviewItem
from cdp.ingest.service import ingest
from cdp.resolution import reindex as reindexing
from cdp.retention.service import run_retention
from cdp.store import Store
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
]


@pytest.fixture
def world(store: Store) -> dict[str, str]:
    [attacker, victim, _] = ingest_all(
        store,
        event({"email": "attacker@example.com"}),
        event({"email": "victim@example.com"}, traits={"first_name": "Vera"}),
        order({"email": "victim@example.com"}, occurred_at="2019-01-01T10:00:00+00:00"),
    )
    ids = {"attacker": attacker.profile_id, "victim": victim.profile_id}
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
    from cdp.dsr.models import DsrRequest
    from cdp.events.models import Event
    from cdp.profiles.models import Trait
    from consent.models import ConsentRecord

    with store.session() as s:
        counts = [
            s.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (Event, Trait, ConsentRecord, MergeRecord, ReviewItem)
        ]
        states = s.execute(select(DsrRequest.status, DsrRequest.due_on)).all()
        identities = s.execute(select(Identity.id, Identity.blind_index)).all()
    return (*counts, hash(tuple(sorted(map(str, states)))), hash(tuple(sorted(map(str, identities)))))


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
    with store.session() as s:
        operations = set(s.execute(select(AuditEntry.operation).where(AuditEntry.outcome == "allowed")).scalars())
        old_form = s.get(Identity, world["old_form"])
    assert {"dsr:verified", "dsr:rectification", "consent:record", "identity.reindex"} <= operations
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
