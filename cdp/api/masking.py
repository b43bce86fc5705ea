"""Masked identifier values for lists and look-ups that do not need the full value."""

from __future__ import annotations


def mask(kind: str, value: str) -> str:
    if kind == "email" and "@" in value:
        local, _, domain = value.partition("@")
        name, dot, tld = domain.rpartition(".")
        return f"{local[:1]}***@{name[:1]}***{dot}{tld}"
    if kind == "phone":
        return value[:3] + "*" * max(len(value) - 5, 0) + value[-2:]
    return value[:2] + "***" + value[-2:] if len(value) > 6 else "***"
