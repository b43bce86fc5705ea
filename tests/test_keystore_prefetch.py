"""KeyStore.prefetch: many profiles' data keys in one query per chunk, each profile's newest key current;
KeyStore.decrypt_many: a batch of values, each data key looked up once."""

from __future__ import annotations

import time

import pytest

from cdp.crypto.cipher import DecryptionError
from cdp.crypto.keystore import KeyStore
from cdp.store import Store

A, B, C = (f"{n}{n}{n}{n}{n}{n}{n}{n}-0000-4000-8000-000000000000" for n in (1, 2, 3))


def test_prefetched_keys_encrypt_and_decrypt_like_looked_up_ones(store: Store) -> None:
    writer = store.keystore
    writer.new_data_key(A)
    writer.new_data_key(B)
    writer.flush()
    blob = writer.encrypt(A, "computed_trait", "values", A, "{}")
    time.sleep(0.01)
    newer = writer.new_data_key(A)  # e.g. after a rotation of the profile's key: new values use the newest
    writer.flush()

    reader = KeyStore(writer.engine, writer.ring)
    reader.prefetch([A, B, C])  # C has no key: nothing is cached for it
    assert reader.key_for_profile(A).id == newer.id
    assert reader.decrypt(A, "computed_trait", "values", A, blob) == "{}"
    assert reader.decrypt(B, "t", "c", B, reader.encrypt(B, "t", "c", B, "x")) == "x"
    assert reader._by_profile.get(C) is None


def test_decrypt_many_opens_values_like_decrypt_looking_each_key_up_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = store.keystore
    writer.new_data_key(A)
    writer.new_data_key(B)
    writer.flush()
    owners = [A, B, A, A, B]
    values = [
        (p, f"row-{n}", writer.encrypt(p, "event", "properties", f"row-{n}", f"v{n}")) for n, p in enumerate(owners)
    ]
    reader = KeyStore(writer.engine, writer.ring)
    looked_up: list[str] = []
    key_by_id = reader.key_by_id
    monkeypatch.setattr(reader, "key_by_id", lambda key_id: looked_up.append(key_id) or key_by_id(key_id))
    assert reader.decrypt_many("event", "properties", values) == ["v0", "v1", "v2", "v3", "v4"]
    assert len(looked_up) == 2  # one look-up per data key, not one per value

    a_value = values[0][2]
    refused = [
        (A, "row-1", a_value),  # moved to another row
        (B, "row-0", a_value),  # claimed by another profile
        (A, "row-0", b"\x02" + a_value[1:]),  # unknown format version
    ]
    for profile_id, row_id, blob in refused:
        with pytest.raises(DecryptionError):
            reader.decrypt(profile_id, "event", "properties", row_id, blob)
        with pytest.raises(DecryptionError):
            reader.decrypt_many("event", "properties", [values[2], (profile_id, row_id, blob)])
