"""Card numbers are never stored (PCI DSS): at ingest, every Luhn-valid number with a card issuer's prefix,
anywhere in an event — free text, traits, properties, as a string or a JSON number — is replaced before
encryption by a token that keeps the brand and the last four digits, e.g. `[card:visa:****4242:3f9a0c1b7e2d]`.

The token's reference is a keyed hash of the whole PAN (HMAC-SHA256 under the key store's blind-index key for
kind "pan", truncated to 12 hex characters; PCI DSS 3.5.1 accepts keyed cryptographic hashes of the entire PAN):
the same card gives the same token, so support can tell that two orders used one card, and without the key
nothing leads back to the number. Storing brand and last four is what PCI DSS 3.4.1 allows to display.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from cdp.pii.recognizers import CARD_PATTERN, valid_card

_CARD = re.compile(CARD_PATTERN)
# Issuer identification number prefixes, longest first within a brand where they overlap.
_BRANDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("amex", re.compile(r"3[47]")),
    ("diners", re.compile(r"3(?:0[0-5]|[68])")),
    ("jcb", re.compile(r"35(?:2[89]|[3-8])")),
    ("visa", re.compile(r"4")),
    ("mastercard", re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]|7[01]|720)")),
    ("unionpay", re.compile(r"62")),
    ("discover", re.compile(r"6(?:011|5|4[4-9])")),
)


def brand_of(digits: str) -> str:
    return next((name for name, prefix in _BRANDS if prefix.match(digits)), "card")


class PanTokenizer:
    """Replaces card numbers in event values; `digest` is the keyed hash (kind, value) -> bytes."""

    def __init__(self, digest: Callable[[str, str], bytes]) -> None:
        self._digest = digest

    def token(self, digits: str) -> str:
        reference = self._digest("pan", digits).hex()[:12]
        return f"[card:{brand_of(digits)}:****{digits[-4:]}:{reference}]"

    def text(self, value: str) -> tuple[str, int]:
        """The text with every card number tokenized, and how many there were."""
        found = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal found
            if not valid_card(match.group()):
                return match.group()
            found += 1
            return self.token(re.sub(r"\D", "", match.group()))

        return _CARD.sub(replace, value), found

    def value(self, value: Any) -> tuple[Any, int]:
        """A JSON value with every card number in it tokenized (walks objects and arrays). Values without one
        are returned as they are, not copied: almost every event has none."""
        if isinstance(value, str):
            return self.text(value) if _CARD.search(value) else (value, 0)
        if isinstance(value, int) and not isinstance(value, bool):
            replaced, found = self.text(str(value))
            return (replaced, found) if found else (value, 0)
        if isinstance(value, dict):
            pairs = {key: self.value(child) for key, child in value.items()}
            found = sum(n for _, n in pairs.values())
            return ({key: v for key, (v, _) in pairs.items()} if found else value), found
        if isinstance(value, list):
            items = [self.value(child) for child in value]
            found = sum(n for _, n in items)
            return ([v for v, _ in items] if found else value), found
        return value, 0
