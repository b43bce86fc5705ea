"""KeyStore.prefetch: many profiles' data keys in one query per chunk, each profile's newest key current."""

from __future__ import annotations

import time

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
