"""AES-256-GCM values bound to their place: (table, column, row id, profile id) is the associated data.

Ciphertext layout: version (1 byte) | data key id (16 bytes) | nonce (12 bytes) | ciphertext + tag.
A ciphertext copied to another row, column or profile fails authentication instead of decrypting.
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
_HEADER = 1 + 16 + 12


class DecryptionError(ValueError):
    """A value failed to decrypt: wrong place, tampered, or its data key was shredded."""


def associated_data(table: str, column: str, row_id: str, profile_id: str) -> bytes:
    return f"{table}\x1f{column}\x1f{row_id}\x1f{profile_id}".encode()


def seal(aead: AESGCM, key_id: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """key_id: the 16 bytes of the data key's UUID."""
    nonce = os.urandom(12)
    return bytes([FORMAT_VERSION]) + key_id + nonce + aead.encrypt(nonce, plaintext, aad)


def key_id_bytes(blob: bytes) -> bytes:
    """The 16 bytes naming the data key of a ciphertext, once the ciphertext's header is checked."""
    if len(blob) < _HEADER + 16 or blob[0] != FORMAT_VERSION:
        raise DecryptionError("not a cdp ciphertext (unknown format version or truncated)")
    return bytes(blob[1:17])


def key_id_of(blob: bytes) -> str:
    return str(uuid.UUID(bytes=key_id_bytes(blob)))


def open_sealed(aead: AESGCM, blob: bytes, aad: bytes) -> bytes:
    try:
        return aead.decrypt(bytes(blob[17:29]), bytes(blob[29:]), aad)
    except InvalidTag:
        raise DecryptionError("ciphertext does not belong here (other row, column or profile) or was altered") from None
