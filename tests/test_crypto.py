"""Field-level encryption: round trips, place binding, rotation without data rewrite, crypto-shredding."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select, update

from cdp.crypto.cipher import DecryptionError
from cdp.crypto.keystore import KeyStore
from cdp.crypto.master import MasterKeyError, MasterKeyRing, load_key_ring, parse_key_ring
from cdp.db import make_engine
from cdp.events.models import Event
from cdp.identity.models import Identity
from cdp.profiles.models import Trait
from cdp.settings import Settings
from cdp.store import Store
from tests import reads
from tests.factories import event, ingest_all, order

TRAITS = {
    "first_name": "王",
    "last_name": "伟",
    "full_name": "王伟",
    "address_line1": "北京市朝阳区建国路88号",
    "address_line2": "3单元",
    "city": "北京",
    "region": "北京市",
    "postal_code": "100022",
    "country": "CN",
    "birthday": "1990-04-01",
    "gender": "male",
    "language": "zh",
    "timezone": "Asia/Shanghai",
    "loyalty_note": "prefers 顺丰",  # undeclared: stored encrypted all the same
}
IDENTIFIERS = {
    "email": "wang.wei@example.cn",
    "phone": "+86 138 0013 8000",
    "shopify_customer_id": "7001",
    "amazon_buyer_id": "AMZN-CN-42",
    "external_id": "crm-42",
    "device_id": "dev-3f2a",
    "anonymous_id": "anon-9b1c",
}


def _stored(store: Store) -> str:
    [outcome] = ingest_all(
        store, order(IDENTIFIERS, total="88.50", currency="CNY", country="CN", traits=TRAITS, source="shopify")
    )
    assert outcome.status == "stored", outcome.errors
    return outcome.profile_id


def test_every_encrypted_field_round_trips(store: Store) -> None:
    profile_id = _stored(store)
    with store.session() as s:
        ids = {i.kind: i.value for i in reads.identities(s, store, profile_id)}
        traits = {n: t.value for n, t in reads.traits(s, store, profile_id).items()}
        [ev] = reads.events(s, store, profile_id, first=5)
    assert ids == {**IDENTIFIERS, "phone": "+8613800138000"}
    assert traits == TRAITS
    assert ev.properties["total"] == "88.50" and ev.amount_minor == 8850 and ev.currency == "CNY"


def test_ciphertext_moved_to_another_row_or_column_fails(store: Store) -> None:
    a = _stored(store)
    [other] = ingest_all(store, event({"email": "other@example.cn"}, traits={"first_name": "李"}, country="CN"))
    with store.session() as s:
        name_a = s.execute(select(Trait).where(Trait.profile_id == a, Trait.name == "first_name")).scalar_one()
        city_a = s.execute(select(Trait).where(Trait.profile_id == a, Trait.name == "city")).scalar_one()
        name_b = s.execute(
            select(Trait).where(Trait.profile_id == other.profile_id, Trait.name == "first_name")
        ).scalar_one()
        ident = s.execute(select(Identity).where(Identity.profile_id == a, Identity.kind == "email")).scalar_one()
        ev = s.execute(select(Event).where(Event.profile_id == a)).scalar_one()
        cases = [
            # another row of the same column and profile
            (a, "trait", "value", city_a.id, name_a.value_ct),
            # another column
            (a, "identity", "value", ident.id, name_a.value_ct),
            (a, "event", "properties", ev.id, ident.value_ct),
            # another profile
            (other.profile_id, "trait", "value", name_b.id, name_a.value_ct),
        ]
        for profile_id, table, column, row_id, blob in cases:
            with pytest.raises(DecryptionError):
                store.keystore.decrypt(profile_id, table, column, row_id, blob)
        # copying the ciphertext in the database makes the copy unreadable, not someone else's value
        s.execute(update(Trait).where(Trait.id == city_a.id).values(value_ct=name_a.value_ct))
        s.commit()
        with pytest.raises(DecryptionError):
            reads.traits(s, store, a)


def test_tampered_ciphertext_fails(store: Store) -> None:
    a = _stored(store)
    with store.session() as s:
        trait = s.execute(select(Trait).where(Trait.profile_id == a, Trait.name == "city")).scalar_one()
        blob = bytearray(trait.value_ct)
        blob[-1] ^= 1
        with pytest.raises(DecryptionError):
            store.keystore.decrypt(a, "trait", "value", trait.id, bytes(blob))


def test_rotation_rewraps_keys_without_touching_data(store: Store, settings: Settings) -> None:
    a = _stored(store)
    with store.session() as s:
        before = [bytes(b) for b in s.execute(select(Trait.value_ct).order_by(Trait.id)).scalars()]
    rotated = load_key_ring(settings).with_new_version()
    keystore = KeyStore(make_engine(settings.resolved_keystore_url()), rotated)
    assert keystore.rewrap_all() >= 2  # the profile's DEK and the blind-index key
    assert keystore.versions_in_use() == {2}
    # the old master key version is no longer needed: drop it and everything still opens
    fresh = Store.open(settings.model_copy(update={"master_key": _serialize(rotated.only({2}))}))
    with fresh.session() as s:
        after = [bytes(b) for b in s.execute(select(Trait.value_ct).order_by(Trait.id)).scalars()]
        assert after == before  # no data rewritten
        assert reads.traits(s, fresh, a)["city"].value == "北京"
        assert reads.find(s, fresh, "email", "WANG.WEI@example.cn") == a  # same blind index
    fresh.close()


def test_shredding_makes_values_unreadable(store: Store) -> None:
    a = _stored(store)
    assert store.keystore.shred([a]) == 1
    with store.session() as s, pytest.raises(DecryptionError, match="shredded"):
        reads.traits(s, store, a)


def test_master_key_errors_are_clear(tmp_path) -> None:
    with pytest.raises(MasterKeyError, match="32"):
        parse_key_ring("v1:" + "QUFB", "CDP_MASTER_KEY")
    with pytest.raises(MasterKeyError, match="cdp keys init"):
        load_key_ring(Settings(data_dir=tmp_path))
    key_file = tmp_path / "master.key"
    key_file.write_text(_serialize(MasterKeyRing({1: bytes(32)})))
    key_file.chmod(0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_key_ring(Settings(data_dir=tmp_path))


def test_blind_index_depends_on_kind_and_normalized_value(store: Store) -> None:
    indexer = store.indexer
    assert indexer.index("email", "a@example.com") == indexer.index("email", "a@example.com")
    assert indexer.index("email", "a@example.com") != indexer.index("external_id", "a@example.com")
    assert b"a@example.com" not in indexer.index("email", "a@example.com")


def _serialize(ring: MasterKeyRing) -> str:
    return ",".join(line for line in ring.serialize().splitlines())


def test_properties_json_is_not_stored_in_clear(store: Store) -> None:
    a = _stored(store)
    with store.session() as s:
        blob = s.execute(select(Event.properties_ct).where(Event.profile_id == a)).scalar_one()
    assert b"88.50" not in bytes(blob)
    assert json.dumps(TRAITS["full_name"], ensure_ascii=False).encode() not in bytes(blob)


def test_a_rollback_in_one_thread_keeps_the_keys_another_thread_is_about_to_write(store: Store) -> None:
    """Concurrent ingest batches: one batch retrying after a constraint race must not drop the data key of a
    profile another batch is committing (its values would be unreadable forever)."""
    keystore = store.keystore
    made = threading.Event()
    discarded = threading.Event()

    def committing_batch() -> None:
        keystore.new_data_key("11111111-1111-4111-8111-111111111111")
        made.set()
        discarded.wait(5)
        keystore.flush()

    def retrying_batch() -> None:
        made.wait(5)
        keystore.new_data_key("22222222-2222-4222-8222-222222222222")
        keystore.discard_pending()
        discarded.set()

    threads = [threading.Thread(target=committing_batch), threading.Thread(target=retrying_batch)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fresh = KeyStore(keystore.engine, keystore.ring)
    assert fresh.key_for_profile("11111111-1111-4111-8111-111111111111")
    with pytest.raises(DecryptionError):
        fresh.key_for_profile("22222222-2222-4222-8222-222222222222")
