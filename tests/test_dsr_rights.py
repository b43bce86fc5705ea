"""Restriction, objection, rectification, and identity verification by an emailed code (real SMTP)."""

from __future__ import annotations

from email import message_from_bytes

import pytest
from sqlalchemy import select

import consent
from cdp.access.gate import AccessContext
from cdp.auth.service import authenticate
from cdp.dsr import service
from cdp.dsr.common import DsrError
from cdp.dsr.rights import marketing_purposes
from cdp.identity.groups import ProfileGroup, load_group
from cdp.identity.models import Profile
from cdp.profiles.models import Trait
from cdp.store import Store
from tests import dsr_helpers as doors
from tests import reads
from tests.dsr_helpers import OFFICER, verified_request
from tests.factories import event, ingest_all


def _customer(store: Store) -> str:
    [a] = ingest_all(store, event({"email": "sofia@example.it"}, country="IT", traits={"last_name": "Rossi"}))
    ingest_all(store, event({"email": "sofia@example.it", "phone": "+39 312 345 6789"}, country="IT"))
    return a.profile_id


def _group(store: Store, root: str) -> ProfileGroup:
    with store.session() as s:
        return load_group(s, root)


def test_restricted_profile_is_readable_for_legal_compliance_only(store: Store) -> None:
    root = _customer(store)
    doors.execute(store, OFFICER, verified_request(store, "restriction", root).id)
    group = _group(store, root)
    with store.session() as s:
        statuses = set(s.execute(select(Profile.status).where(Profile.id.in_(group.member_ids))).scalars())
        assert statuses == {"restricted"}
        assert AccessContext.operator("support").blocked_reason(s, group) is not None
        assert AccessContext.operator("legal_compliance").blocked_reason(s, group) is None


def test_objection_withdraws_every_marketing_purpose_at_once(store: Store) -> None:
    root = _customer(store)
    with store.session() as s:
        consent.record(s, profile_id=root, purpose="marketing.email", status="granted", legal_basis="consent",
                       jurisdiction="EU", source="checkout")  # fmt: skip
        s.commit()
    outcome = doors.execute(store, OFFICER, verified_request(store, "objection", root).id)
    assert outcome.summary["withdrawn_purposes"] == marketing_purposes()
    assert {"marketing", "marketing.email", "marketing.ads"} <= set(marketing_purposes())
    with store.session() as s:
        state = consent.current_state(s, _group(store, root).member_ids)
    assert {p: r.status for p, r in state.items()} == {p: "withdrawn" for p in marketing_purposes()}


def test_rectification_replaces_values_and_drops_the_old_ciphertext(store: Store) -> None:
    root = _customer(store)
    with store.session() as s:
        [old] = s.execute(select(Trait).where(Trait.name == "last_name")).scalars()
    request = verified_request(store, "rectification", root)
    doors.execute(store, OFFICER, request.id, traits={"last_name": "Rossi-Bianchi"},
                    identifiers={"email": "sofia.rb@example.it"})  # fmt: skip
    group = _group(store, root)
    with store.session() as s:
        traits = reads.traits(s, store, group.member_ids[0])
        emails = [i.value for i in reads.identities(s, store, group.member_ids[0]) if i.kind == "email"]
        assert s.get(Trait, old.id) is None  # the old row and its ciphertext are gone, not overwritten
        assert [bytes(b) for b in s.execute(select(Trait.value_ct)).scalars()] != [bytes(old.value_ct)]
        entry = s.execute(select(consent.ConsentRecord)).first()
    assert traits["last_name"].value == "Rossi-Bianchi" and traits["last_name"].source == "data_subject"
    assert emails == ["sofia.rb@example.it"]
    assert entry is None
    assert reads.find(store.session(), store, "email", "sofia@example.it") is None


def test_rectification_to_another_customers_identifier_is_refused(store: Store) -> None:
    root = _customer(store)
    ingest_all(store, event({"email": "taken@example.it"}))
    request = verified_request(store, "rectification", root)
    with pytest.raises(DsrError, match="another customer"):
        doors.execute(store, OFFICER, request.id, identifiers={"email": "taken@example.it"})


def test_subject_verifies_with_the_emailed_code_and_gets_a_scoped_token(store: Store, smtp) -> None:
    inbox, settings = smtp
    root = _customer(store)
    request = doors.create_request(store, OFFICER, kind="access", source="graphql",
                                     identifiers=[service.SubjectIdentifier("phone", "+39 312 345 6789")])  # fmt: skip
    assert doors.send_verification(store, request.id, settings)
    message = message_from_bytes(inbox.messages[0])
    assert message["To"] == "sofia@example.it" and message["From"] == "privacy@shop.test"
    with pytest.raises(DsrError, match="wrong code"):
        doors.verify_code(store, OFFICER, request.id, "00000000" if inbox.code() != "00000000" else "1")
    verified = doors.verify_code(store, OFFICER, request.id, inbox.code())
    assert verified.request.status == "verified"
    with store.session() as s:
        principal = authenticate(s, f"Bearer {verified.token}")
    assert (principal.role, principal.profile_id) == ("data_subject", root)
    own = AccessContext.for_principal(principal, "data_subject_rights")
    assert doors.execute(store, own, request.id).archive  # self-service export of its own data
    with pytest.raises(DsrError):
        doors.verify_code(store, OFFICER, request.id, inbox.code())  # one-time


def test_codes_lock_after_too_many_attempts(store: Store, smtp) -> None:
    inbox, settings = smtp
    root = _customer(store)
    request = doors.create_request(store, OFFICER, kind="erasure", profile_id=root, source="graphql")
    doors.send_verification(store, request.id, settings)
    wrong = "12345678" if inbox.code() != "12345678" else "87654321"
    for _ in range(5):
        with pytest.raises(DsrError, match="wrong code"):
            doors.verify_code(store, OFFICER, request.id, wrong)
    with pytest.raises(DsrError, match="too many"):
        doors.verify_code(store, OFFICER, request.id, inbox.code())
    assert doors.load(store, OFFICER, request.id).status == "received"
