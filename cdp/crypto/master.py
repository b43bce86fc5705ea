"""The master key ring (KEK): versioned 256-bit keys from CDP_MASTER_KEY or a 0600 key file.

Format (env var or file, one entry per comma or line): ``v<version>:<base64 of 32 bytes>``. The highest
version wraps new data keys; older versions stay only to unwrap keys that `cdp keys rotate` has not yet
rewrapped. A bare base64 value is version 1.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cdp.settings import Settings


class MasterKeyError(RuntimeError):
    """The master key is missing or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class MasterKeyRing:
    keys: dict[int, bytes]

    @property
    def current_version(self) -> int:
        return max(self.keys)

    @property
    def current(self) -> bytes:
        return self.keys[self.current_version]

    def key(self, version: int) -> bytes:
        try:
            return self.keys[version]
        except KeyError:
            raise MasterKeyError(
                f"master key version {version} is not configured; add it back to unwrap, then `cdp keys rotate`"
            ) from None

    def serialize(self) -> str:
        return "".join(f"v{v}:{base64.b64encode(k).decode()}\n" for v, k in sorted(self.keys.items()))

    def with_new_version(self) -> MasterKeyRing:
        return MasterKeyRing({**self.keys, self.current_version + 1: secrets.token_bytes(32)})

    def only(self, versions: set[int]) -> MasterKeyRing:
        return MasterKeyRing({v: k for v, k in self.keys.items() if v in versions})


def parse_key_ring(text: str, origin: str) -> MasterKeyRing:
    keys: dict[int, bytes] = {}
    for raw in text.replace(",", "\n").splitlines():
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        version_text, sep, b64 = entry.partition(":")
        if not sep:
            version_text, b64 = "v1", entry
        try:
            version = int(version_text.lstrip("v"))
            key = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            raise MasterKeyError(f"{origin}: entry is not 'v<N>:<base64>'") from None
        if len(key) != 32:
            raise MasterKeyError(f"{origin}: version {version} is {len(key)} bytes, AES-256 needs 32")
        keys[version] = key
    if not keys:
        raise MasterKeyError(f"{origin}: no key found")
    return MasterKeyRing(keys)


def load_key_ring(settings: Settings) -> MasterKeyRing:
    if settings.master_key:
        return parse_key_ring(settings.master_key, "CDP_MASTER_KEY")
    path = settings.resolved_master_key_file()
    if not path.exists():
        raise MasterKeyError(f"no master key: set CDP_MASTER_KEY or run `cdp keys init` (creates {path})")
    if path.stat().st_mode & 0o077:
        raise MasterKeyError(f"{path} is readable by group/others; run `chmod 600 {path}`")
    return parse_key_ring(path.read_text(), str(path))


def write_key_file(path: Path, ring: MasterKeyRing) -> None:
    """Write atomically with mode 0600 from the start, so the key is never world-readable on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(ring.serialize())
    os.replace(tmp, path)


def init_key_file(path: Path) -> MasterKeyRing:
    if path.exists():
        raise MasterKeyError(f"{path} already exists; refusing to overwrite a master key")
    ring = MasterKeyRing({1: secrets.token_bytes(32)})
    write_key_file(path, ring)
    return ring
