"""Which privacy regime applies, and what it means when a customer never answered.

Opt-in regimes (GDPR in the EU/EEA, UK GDPR, PIPL, LGPD, APPI, and anything unknown, to fail closed) need a
"granted" record before consent-based processing; opt-out regimes (CCPA/CPRA in California, and US state law
generally) allow it until the customer objects.
"""

from __future__ import annotations

from typing import Literal

from consent.errors import ConsentError

Mode = Literal["opt_in", "opt_out"]

JURISDICTIONS = frozenset({"EU", "UK", "CN", "BR", "JP", "US-CA", "US", "OTHER"})
_OPT_OUT = frozenset({"US-CA", "US"})
# EU member states plus the EEA states that apply the GDPR (Iceland, Liechtenstein, Norway).
EEA_COUNTRIES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
})  # fmt: skip
_SINGLE = {"GB": "UK", "UK": "UK", "CN": "CN", "BR": "BR", "JP": "JP"}


def jurisdiction_for(country: str | None, region: str | None = None) -> str:
    """Jurisdiction of a customer from ISO 3166 alpha-2 country and, for the US, region ("CA", "US-CA" or
    "California"). Unknown or missing countries give "OTHER", which is opt-in: fail closed."""
    code = (country or "").strip().upper()
    if code in EEA_COUNTRIES:
        return "EU"
    if code == "US":
        return "US-CA" if (region or "").strip().upper() in {"CA", "US-CA", "CALIFORNIA"} else "US"
    return _SINGLE.get(code, "OTHER")


def default_mode(jurisdiction: str) -> Mode:
    """What silence means: "opt_out" (allowed until objected) in the US, "opt_in" everywhere else."""
    check_jurisdiction(jurisdiction)
    return "opt_out" if jurisdiction in _OPT_OUT else "opt_in"


def is_permitted(
    latest_status: str | None, jurisdiction: str, *, requires_consent: bool, mode: Mode | None = None
) -> bool:
    """May a purpose be pursued for a subject, given the latest consent status (None if never recorded)?

    `requires_consent` is False only for purposes on another legal basis (contract, legal obligation): a
    withdrawal does not stop those. Otherwise an explicit answer wins ("granted" only), and silence follows
    `mode` (the purpose's own opt-in/opt-out rule for the jurisdiction, when the policy states one) or else
    the jurisdiction's default mode. An opt-out purpose therefore still requires_consent=True.
    """
    if not requires_consent:
        return True
    if latest_status is not None:
        return latest_status == "granted"
    return (mode or default_mode(jurisdiction)) == "opt_out"


def check_jurisdiction(jurisdiction: str) -> None:
    if jurisdiction not in JURISDICTIONS:
        expected = ", ".join(sorted(JURISDICTIONS))
        raise ConsentError(f"unknown jurisdiction {jurisdiction!r}: expected one of {expected}")
