"""Erasure by crypto-shredding: the proof on a copy of the data, replay protection, legal holds, certificate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

import audit
from cdp.access.gate import AccessContext
from cdp.crypto.cipher import DecryptionError
from cdp.dsr.models import LegalHold, Suppression
from cdp.events.models import Event
from cdp.identity.groups import load_group
from cdp.identity.models import Identity, Profile
from cdp.profiles import service as profiles
from cdp.profiles.models import Trait
from cdp.settings import Settings
from cdp.store import Store
from tests import dsr_helpers as doors
from tests.dsr_helpers import OFFICER, verified_request
from tests.factories import event, ingest_all, order

SUBJECT = {"email": "ines.moreau@example.fr", "phone": "+33 6 11 22 33 44"}
SUBJECT_VALUES = ["ines.moreau@example.fr", "+33611223344", "Inès", "12 rue des Lilas", "Lyon"]
CIPHERTEXTS = {
    "identity": ("value", "SELECT id, profile_id, value_ct FROM identity"),
    "trait": ("value", "SELECT id, profile_id, value_ct FROM trait"),
    "event": ("properties", "SELECT id, profile_id, properties_ct FROM event"),
}


def _subject(store: Store) -> tuple[str, list[str]]:
    """A customer made of two merged profiles, with traits, browsing, a ticket and an order."""
    traits = {"first_name": "Inès", "address_line1": "12 rue des Lilas"}
    [by_email] = ingest_all(store, event({"email": SUBJECT["email"]}, country="FR", traits=traits))
    [by_phone] = ingest_all(
        store, event({"phone": SUBJECT["phone"]}, country="FR", source="amazon", traits={"city": "Lyon"})
    )
    ingest_all(
        store,
        event(SUBJECT, country="FR", type="page_view", properties={"url": "/p/robe-lin"}),
        event({"email": SUBJECT["email"]}, type="ticket", properties={"subject": "colis abîmé, Inès, Lyon"}),
        order({"phone": SUBJECT["phone"]}, country="FR", source_event_id="order-ines-1"),
    )
    with store.session() as s:
        group = load_group(s, by_phone.profile_id)
    assert group.root.id == by_email.profile_id and len(group.member_ids) == 2
    return group.root.id, group.member_ids


def _other(store: Store) -> str:
    [outcome] = ingest_all(
        store, order({"email": "paul.martin@example.fr"}, country="FR", traits={"first_name": "Paul"})
    )
    return outcome.profile_id


def _backup(store: Store, settings: Settings, tmp_path: Path) -> list[tuple[str, str, str, str, bytes]]:
    """Every ciphertext of a backup taken now: a file copy on SQLite, the rows read out on PostgreSQL."""
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        copy = tmp_path / "backup.db"
        shutil.copyfile(url.removeprefix("sqlite:///"), copy)
        engine = create_engine(f"sqlite:///{copy}")
    else:
        engine = store.engine
    rows = []
    with engine.connect() as conn:
        for table, (column, query) in CIPHERTEXTS.items():
            rows += [(table, column, row_id, pid, bytes(blob)) for row_id, pid, blob in conn.execute(text(query))]
    if engine is not store.engine:
        engine.dispose()
    return rows


def _readable(store: Store, rows: list[tuple[str, str, str, str, bytes]]) -> list[str]:
    values = []
    for table, column, row_id, profile_id, blob in rows:
        try:
            values.append(store.keystore.decrypt(profile_id, table, column, row_id, blob))
        except DecryptionError:
            continue
    return values


def _holds_value(values: list[str], wanted: list[str]) -> list[str]:
    return [w for w in wanted if any(w in v for v in values)]


def test_backup_taken_before_erasure_cannot_be_decrypted_after_it(store: Store, settings: Settings, tmp_path) -> None:
    root, members = _subject(store)
    other = _other(store)
    backup = _backup(store, settings, tmp_path)
    subject_rows = [r for r in backup if r[3] in members]
    assert _holds_value(_readable(store, subject_rows), SUBJECT_VALUES) == SUBJECT_VALUES  # the control

    outcome = doors.execute(store, OFFICER, verified_request(store, "erasure", root).id)
    assert outcome.request.status == "completed"

    fresh = Store.open(settings)  # another process: nothing cached
    try:
        for keystore_user in (store, fresh):
            assert _readable(keystore_user, subject_rows) == []
            assert _holds_value(_readable(keystore_user, backup), SUBJECT_VALUES) == []
        live = _backup(fresh, settings, tmp_path)
        assert _holds_value(_readable(fresh, live), SUBJECT_VALUES) == []
        assert any("Paul" in v for v in _readable(fresh, live)), "the other customer is untouched"
        with fresh.session() as s:
            assert s.execute(select(Identity).where(Identity.profile_id.in_(members))).first() is None
            assert s.execute(select(Trait).where(Trait.profile_id.in_(members))).first() is None
            statuses = set(s.execute(select(Profile.status).where(Profile.id.in_(members))).scalars())
            assert statuses == {"erased"}
            assert s.get(Profile, other).status == "active"
    finally:
        fresh.close()


def test_replayed_event_of_an_erased_subject_is_suppressed(store: Store) -> None:
    root, _ = _subject(store)
    replay = event({"email": SUBJECT["email"]}, source_event_id="replayed-1", traits={"first_name": "Inès"})
    doors.execute(store, OFFICER, verified_request(store, "erasure", root).id)

    same_email, same_phone, unrelated = ingest_all(
        store,
        replay,
        order({"phone": "06 11 22 33 44", "device_id": "new-device-1"}, country="FR", source_event_id="order-ines-1"),
        event({"email": "someone.else@example.fr"}),
    )
    assert same_email.status == same_phone.status == "rejected"
    assert "erased" in same_email.errors[0]
    assert unrelated.status == "stored"
    with store.session() as s:
        assert s.execute(select(Trait)).first() is None  # the replay wrote no trait
        kinds = set(s.execute(select(Suppression.kind)).scalars())
        assert kinds == {"email", "phone"}
        assert s.execute(select(Identity).where(Identity.kind == "device_id")).first() is None


def test_orders_under_legal_hold_stay_readable_for_legal_compliance_only(store: Store) -> None:
    root, members = _subject(store)
    outcome = doors.execute(store, OFFICER, verified_request(store, "erasure", root).id)
    with store.session() as s:
        remaining = s.execute(
            select(Event.id, Event.type, Event.amount_minor).where(Event.profile_id.in_(members))
        ).all()
        [hold] = s.execute(select(LegalHold)).scalars()
    assert [e.type for e in remaining] == ["order"]  # page view, ticket and identify events are gone
    assert remaining[0].amount_minor == 1999 and hold.rows == 1 and "tax" in hold.basis
    with store.session() as s:
        legal = AccessContext.operator("legal_compliance")
        [view] = profiles.views(s, store, legal, [profiles.customer(s, legal, root)])
        [held] = profiles.events(s, store, legal, view, first=10)
        assert held.id == remaining[0].id and held.properties["currency"] == "EUR"
        marketing = AccessContext.operator("marketing")
        [blocked] = profiles.views(s, store, marketing, [profiles.customer(s, marketing, root)])
        assert blocked.blocked == "erased" and profiles.events(s, store, marketing, blocked, first=10) == []
    assert outcome.certificate["retained_under_legal_hold"][0]["event_type"] == "order"


def test_certificate_names_what_was_erased_and_its_audit_entries(store: Store) -> None:
    root, members = _subject(store)
    request = verified_request(store, "erasure", root)
    certificate = doors.execute(store, OFFICER, request.id).certificate
    assert certificate["request_id"] == request.id
    assert certificate["data_keys_destroyed"] == 2
    assert certificate["erased_rows"]["identities"] == 2 and certificate["erased_rows"]["events"] == 4
    assert sorted(certificate["profile_ids"]) == sorted(members)
    assert certificate["suppressed_identifiers"] == {"email": 1, "phone": 1}
    assert "user.contact.email" in certificate["categories"]
    with store.session() as s:
        query = select(audit.AuditEntry).where(audit.AuditEntry.id.in_(certificate["audit_entry_ids"]))
        entries = list(s.execute(query.order_by(audit.AuditEntry.seq)).scalars())
        assert [e.operation for e in entries] == ["dsr:received", "dsr:verified", "dsr:erasure", "dsr:keys_shredded"]
        assert set(entries[-1].subject_id_list) == set(members)
        assert audit.verify(s).ok
        stored = doors.load(store, OFFICER, request.id)
    assert json.loads(stored.certificate) == certificate


def test_erasure_needs_the_erase_grant(store: Store) -> None:
    root, _ = _subject(store)
    request = verified_request(store, "erasure", root)
    support = AccessContext.operator("support")
    with pytest.raises(PermissionError):
        doors.execute(store, support, request.id)
    with store.session() as s:
        assert s.get(Profile, root).status == "active"
