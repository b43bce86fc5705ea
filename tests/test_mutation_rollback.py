"""A mutation that fails after its service already wrote leaves nothing behind: not the partial rows, not an
audit entry saying it happened.

- In a transaction of its own (Store.run): a real failing path, a rectification that replaces the traits first
  and only then finds that the corrected email belongs to another customer (cdp.dsr.rights.rectify).
- In the request's session (ctx.session, committed by the resolver): a fault injected after the consent and
  its Sec-GPC opt-outs were written, in a document whose first mutation returned a customer, so the request's
  own audit entry is committed after the failure (cdp.api.extensions: what the failed resolver left is rolled
  back first, never committed with that entry).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from cdp.consents import service as consents
from cdp.dsr.models import DsrRequest
from cdp.identity.models import MergeRecord
from cdp.profiles.models import Trait
from cdp.store import Store
from consent.models import ConsentRecord
from tests import reads
from tests.dsr_helpers import verified_request
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient


def _state(store: Store, profile_id: str, request_id: str) -> tuple[object, ...]:
    with store.session() as s:
        traits = {name: t.value for name, t in reads.traits(s, store, profile_id).items()}
        trait_ids = sorted(s.execute(select(Trait.id).where(Trait.profile_id == profile_id)).scalars())
        request = s.get(DsrRequest, request_id)
        assert request is not None
        emails = sorted(i.value for i in reads.identities(s, store, profile_id) if i.kind == "email")
        return traits, trait_ids, request.status, request.closed_at, emails


def _audited(store: Store) -> list[tuple[str, str]]:
    with store.session() as s:
        return [tuple(row) for row in s.execute(select(AuditEntry.operation, AuditEntry.outcome)).all()]


def test_a_rectification_failing_after_it_replaced_traits_is_rolled_back_with_its_audit_entry(
    store: Store, gql: GraphQLClient
) -> None:
    [subject, _] = ingest_all(
        store,
        event({"email": "vera@example.com"}, traits={"first_name": "Vera", "last_name": "Ictim"}),
        event({"email": "taken@example.com"}),
    )
    request = verified_request(store, "rectification", subject.profile_id)
    before = _state(store, subject.profile_id, request.id)
    assert before[0] == {"first_name": "Vera", "last_name": "Ictim"} and before[2] == "verified"
    audited_before = _audited(store)

    result = gql.run(
        "ExecuteDsr",
        {"requestId": request.id, "traits": {"first_name": "Valeria"}, "identifiers": {"email": "taken@example.com"}},
        key=gql.key("compliance_officer"),
        purpose="data_subject_rights",
    )

    assert result["data"] is None
    [error] = result["errors"]
    assert error["message"] == "email: the corrected value belongs to another customer; a person must review"
    # the traits it had already replaced, the request's status: as they were (same rows, not rewritten copies)
    assert _state(store, subject.profile_id, request.id) == before
    new_entries = _audited(store)[len(audited_before) :]
    assert ("dsr:rectification", "allowed") not in new_entries
    assert ("dsr:completed", "allowed") not in new_entries
    assert all(outcome != "allowed" for _, outcome in new_entries), new_entries


MERGE_THEN_CONSENT = """mutation($survivor: ID!, $absorbed: ID!, $customer: ID!) {
  merged: mergeProfiles(survivorId: $survivor, absorbedId: $absorbed, reason: "same person, checked") {
    profile { id memberIds email }
  }
  consent: recordConsent(profileId: $customer, purpose: "marketing.email", status: granted, source: api) { id }
}"""


def test_a_mutation_failing_after_its_writes_in_the_request_session_commits_none_of_them(
    store: Store, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor, absorbed, customer = ingest_all(
        store, *(event({"email": f"{name}@example.com"}) for name in ("sam", "samuel", "carla"))
    )
    real_apply_gpc = consents.apply_gpc

    def apply_gpc_then_fail(*args: object, **kwargs: object) -> int:
        assert real_apply_gpc(*args, **kwargs) > 0  # the opt-out rows and their audit entry are written...
        raise ValueError("gpc: the opt-out could not be recorded (fault injected by the test)")  # ...then this

    monkeypatch.setattr(consents, "apply_gpc", apply_gpc_then_fail)
    audited_before = _audited(store)

    variables = {"survivor": survivor.profile_id, "absorbed": absorbed.profile_id, "customer": customer.profile_id}
    response = gql.post({"query": MERGE_THEN_CONSENT, "variables": variables}, key=gql.key("admin"),
                        purpose="identity_resolution", **{"Sec-GPC": "1"})  # fmt: skip
    assert response.status_code == 200
    result = response.json()

    [error] = result["errors"]
    assert error["message"] == "gpc: the opt-out could not be recorded (fault injected by the test)"
    assert error["path"] == ["consent"]
    assert result["data"] is None  # recordConsent is non-null: its null takes the whole result with it
    with store.session() as s:
        merges = s.execute(select(func.count()).select_from(MergeRecord)).scalar_one()
        consent_rows = s.execute(
            select(func.count()).select_from(ConsentRecord).where(ConsentRecord.profile_id == customer.profile_id)
        ).scalar_one()
    assert merges == 1  # the first mutation had committed before the second ran
    assert consent_rows == 0  # neither the answer nor the Sec-GPC opt-outs written before the fault
    # the merge, and the request's entry for the customer it returned; no consent:record or consent:gpc entry
    assert _audited(store)[len(audited_before) :] == [("identity.merge", "allowed"), ("graphql:anonymous", "allowed")]
