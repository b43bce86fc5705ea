"""Access and portability exports: every stored value of the subject, nothing of anyone else."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest

import consent
from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.dsr import service
from cdp.dsr.common import DsrError
from cdp.identity.groups import load_group
from cdp.store import Store
from policies.errors import AccessDenied
from tests import dsr_helpers as doors
from tests import reads
from tests.dsr_helpers import OFFICER, verified_request
from tests.factories import event, ingest_all, order

# The subject and a near-duplicate: same name, same city, similar email, a phone one digit apart.
SUBJECT = {"email": "maria.silva@example.com.br", "phone": "+55 11 91234-5678"}
TWIN = {"email": "maria.silva@example.br", "phone": "+55 11 91234-5679"}


def _person(store: Store, ids: dict[str, str], street: str, ticket: str) -> str:
    traits = {"full_name": "Maria Silva", "city": "São Paulo", "address_line1": street}
    [first] = ingest_all(store, event({"email": ids["email"]}, country="BR", traits=traits))
    ingest_all(
        store,
        event({"phone": ids["phone"], "email": ids["email"]}, country="BR", source="amazon"),
        event({"email": ids["email"]}, country="BR", type="ticket", properties={"text": ticket}),
        order({"phone": ids["phone"]}, country="BR", currency="BRL", total="250.00"),
    )
    with store.session() as s:
        consent.record(s, profile_id=first.profile_id, purpose="marketing.email", status="granted",
                       legal_basis="consent", jurisdiction="BR", source="checkout", notice_version="v3")  # fmt: skip
        consent.record(s, profile_id=first.profile_id, purpose="marketing.email", status="withdrawn",
                       legal_basis="consent", jurisdiction="BR", source="api")  # fmt: skip
        s.commit()
    return first.profile_id


def _stored_values(store: Store, root: str) -> set[str]:
    """Every personal value stored for the customer, read straight from the profile service."""
    with store.session() as s:
        members = load_group(s, root).member_ids
        values = {i.value for i in reads.identities(s, store, members[0])}
        values |= {str(t.value) for t in reads.traits(s, store, members[0]).values()}
        for e in reads.events(s, store, members[0], first=1000):
            values |= {str(v) for v in e.properties.values() if v not in ([], {})}
    return values


def _unzip(archive: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return {name: z.read(name).decode() for name in z.namelist()}


def test_access_export_holds_every_value_of_the_subject_and_none_of_the_twin(store: Store) -> None:
    subject = _person(store, SUBJECT, "Rua Augusta 100", "entrega atrasada pedido 1")
    twin = _person(store, TWIN, "Rua Augusta 101", "troca de tamanho pedido 2")
    archive = doors.execute(store, OFFICER, verified_request(store, "access", subject).id).archive
    files = _unzip(archive)
    assert set(files) >= {"data.json", "schema.json", "identities.csv", "traits.csv", "events.csv", "consents.csv"}
    everything = "\n".join(files.values())
    mine = _stored_values(store, subject)
    assert len(mine) >= 8
    assert [v for v in mine if v not in everything] == []
    theirs = _stored_values(store, twin) - mine
    assert theirs and [v for v in theirs if v in everything] == []

    data = json.loads(files["data.json"])
    with store.session() as s:
        members = load_group(s, subject).member_ids
    assert {row["profile_id"] for table in ("identities", "traits", "events") for row in data[table]} <= set(members)
    assert [c["status"] for c in data["consents"]] == ["granted", "withdrawn"]
    assert data["consents"][0]["notice_version"] == "v3"
    info = data["article_15"]
    assert {"purposes", "categories", "recipients", "retention", "sources"} <= set(info)
    assert "user.content.support" in info["categories"] and "2 years" in info["retention"]["user.content.support"]
    assert set(info["sources"]) == {"shopify", "amazon"}
    assert len(list(csv.DictReader(io.StringIO(files["events.csv"])))) == len(data["events"]) == 4
    schema = json.loads(files["schema.json"])
    assert set(schema["required"]) <= set(data)


def test_portability_keeps_provided_and_observed_data_only(store: Store) -> None:
    subject = _person(store, SUBJECT, "Rua Augusta 100", "entrega atrasada")
    archive = doors.execute(store, OFFICER, verified_request(store, "portability", subject).id).archive
    data = json.loads(_unzip(archive)["data.json"])
    assert data["kind"] == "portability"
    assert "article_15" not in data and "merges" not in data
    assert {i["kind"] for i in data["identities"]} == {"email", "phone"}


def test_data_subject_token_exports_only_its_own_profile(store: Store) -> None:
    subject = _person(store, SUBJECT, "Rua Augusta 100", "a")
    twin = _person(store, TWIN, "Rua Augusta 101", "b")
    request = verified_request(store, "access", twin)
    own = AccessContext.for_principal(Principal("k1", "subject", "data_subject", subject), "data_subject_rights")
    with pytest.raises(AccessDenied):
        doors.execute(store, own, request.id)
    with pytest.raises(PermissionError):
        doors.execute(store, AccessContext.operator("marketing"), request.id)


def test_request_for_an_unknown_identifier_cannot_be_executed(store: Store) -> None:
    nobody = service.SubjectIdentifier("email", "nobody@example.com")
    request = doors.create_request(store, OFFICER, kind="access", source="cli", identifiers=[nobody])
    assert request.profile_id is None and request.status == "received"
    doors.mark_verified(store, OFFICER, request.id, "officer")
    with pytest.raises(DsrError, match="no profile"):
        doors.execute(store, OFFICER, request.id)
