"""The normalization rules of policies/identity.yaml, each against a hand-written expectation."""

from __future__ import annotations

import pytest

from cdp.identity.rules import InvalidIdentifier, normalize, parse_rules, placeholder_reason

# (raw value, canonical form): the provider's own rules, written out by hand.
EMAILS = [
    ("J.Smith@gmail.com", "jsmith@gmail.com"),
    ("j.s.m.i.t.h+amazon@googlemail.com", "jsmith@gmail.com"),
    ("  JSmith+shop@GMAIL.com ", "jsmith@gmail.com"),
    ("anna.lee+news@outlook.com", "anna.lee@outlook.com"),  # dots matter at Outlook
    ("anna.lee+x@hotmail.com", "anna.lee@hotmail.com"),
    ("kim+orders@me.com", "kim@icloud.com"),
    ("kim@mac.com", "kim@icloud.com"),
    ("maria+tag@protonmail.com", "maria@proton.me"),
    ("first.last+tag@example.de", "first.last+tag@example.de"),  # unknown provider: only lower-cased
]


@pytest.mark.parametrize(("raw", "canonical"), EMAILS)
def test_email_canonical_forms(raw: str, canonical: str) -> None:
    assert normalize("email", raw) == canonical


def test_a_tag_alone_is_not_an_address() -> None:
    with pytest.raises(InvalidIdentifier, match="email: nothing left"):
        normalize("email", "+promo@gmail.com")


def test_provider_rules_are_configurable_per_domain() -> None:
    rules = parse_rules(
        {
            "kinds": {"email": {"limit": 5, "unique": False}},
            "email": {"providers": [{"domains": ["corp.example"], "ignore_dots": True}]},
        }
    )
    [provider] = set(rules.email.providers.values())
    assert provider.ignore_dots and not provider.plus_tags and provider.canonical_domain is None


# (kind, normalized value, reason or None)
PLACEHOLDERS = [
    ("email", "x@x.com", "placeholder address"),
    ("email", "none@none.com", "placeholder address"),
    ("email", "na@na.com", "placeholder address"),
    ("email", "customer@example.com", "placeholder address"),
    ("email", "unknown@unknown.com", "placeholder address"),
    ("email", "noemail@noemail.com", "placeholder address"),
    ("email", "test@test.com", "blocked placeholder value"),
    ("email", "a@b.com", "blocked placeholder value"),
    ("email", "john.doe@web.de", "placeholder address"),
    ("email", "someone@mailinator.invalid", "placeholder domain"),
    ("email", "zz@zz.de", "placeholder address (local part repeats the domain)"),
    ("email", "abc123@marketplace.amazon.de", "marketplace relay address (never links two buyers)"),
    ("email", "q9xk2@marketplace.amazon.co.uk", "marketplace relay address (never links two buyers)"),
    ("email", "anna.schmidt@example.de", None),
    ("email", "info@schmidt-gmbh.de", None),
    ("phone", "+869999999999", "placeholder number"),
    ("phone", "+11234567890", "placeholder number"),
    ("phone", "+4998765432", "placeholder number"),
    ("phone", "+15555555555", "blocked placeholder value"),
    ("phone", "+493012345678", None),
    ("phone", "+819012345678", None),
    ("device_id", "00000000-0000-0000-0000-000000000000", "blocked placeholder value"),
    ("shopify_customer_id", "0000", "blocked placeholder value"),
    ("shopify_customer_id", "80001", None),
]


@pytest.mark.parametrize(("kind", "value", "reason"), PLACEHOLDERS)
def test_placeholders(kind: str, value: str, reason: str | None) -> None:
    assert (placeholder_reason(kind, value) or None) == reason
    if reason is not None:
        assert value not in reason  # reasons never echo the value


# (raw, country, E.164) for international prefixes and countries
PHONES = [
    ("0049 30 12345678", None, "+493012345678"),
    ("011 49 30 12345678", None, "+493012345678"),
    ("011 1 702 555 0123", None, "+17025550123"),
    ("001 702 555 0123", "DE", "+17025550123"),
    ("030 12345678", "DE", "+493012345678"),
    ("+33 6 12 34 56 78", None, "+33612345678"),
]


@pytest.mark.parametrize(("raw", "country", "expected"), PHONES)
def test_phone_prefixes_and_countries(raw: str, country: str | None, expected: str) -> None:
    assert normalize("phone", raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "message"),
    [
        ("030 12345678", None, "phone: national number without a country"),
        ("12", "DE", "phone: not a valid number for DE"),
        ("unknown", "DE", "phone: cannot be parsed for country DE"),
        ("+49 1", None, "phone: cannot be parsed"),
    ],
)
def test_unusable_phone_numbers_are_refused_per_identifier(raw: str, country: str | None, message: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize("phone", raw, country)
    assert str(caught.value).startswith(message)
    assert raw not in str(caught.value)
