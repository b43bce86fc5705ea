"""Every role x purpose x data category, through the real GraphQL endpoint, against a table written by hand.

The oracle is EXPECTED below: what each role may read for each purpose, written from the policy's intent (the
comments of policies/policy.csv and docs/policies.md), not computed by casbin. A rule that stops denying (deny
wins removed, a wildcard too wide) or stops granting shows up as a mismatch; a new role, purpose or probed
category fails the coverage test until someone writes down what it should see.
"""

from __future__ import annotations

import pytest

from cdp.categories import static_field_categories
from cdp.dictionary import dictionary
from cdp.store import Store
from policies.gate import PolicyGate
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient

ALL = "*"
ADDRESS = {
    "user.contact.address.city",
    "user.contact.address.country",
    "user.contact.address.postal_code",
    "user.contact.address.state",
    "user.contact.address.street",
}
CONTACT = {"user.contact.email", "user.contact.phone_number"} | ADDRESS
COARSE = {"user.contact.address.country", "user.demographic.language", "user.location.timezone"}
BEHAVIOUR = {"user.behavior.browsing", "user.behavior.purchase", "user.behavior.subscription"}
# role -> purpose -> the categories it may read (ALL: every one). Purposes not listed: nothing.
EXPECTED: dict[str, dict[str, set[str] | str]] = {
    "admin": dict.fromkeys(
        (
            "analytics",
            "cross_border_transfer",
            "customer_account",
            "data_subject_rights",
            "fraud_prevention",
            "identity_resolution",
            "legal_compliance",
            "marketing",
            "marketing.ads",
            "marketing.email",
            "order_fulfillment",
            "personalization",
            "support",
        ),
        ALL,
    ),  # fmt: skip
    # reporting on behaviour and coarse attributes, never direct identifiers
    "analyst": {"analytics": BEHAVIOUR | COARSE},
    # audits and data-subject requests: everything, for those two purposes only
    "compliance_officer": {"data_subject_rights": ALL, "legal_compliance": ALL},
    # the customer's own data, through the rights purpose
    "data_subject": {"data_subject_rights": ALL},
    "frontend_app": {
        "order_fulfillment": {"user.name", "user.unique_id", "user.behavior.purchase"} | CONTACT,
        "personalization": {"user.name"} | BEHAVIOUR | COARSE,
        "support": {"user.name", "user.behavior.purchase", "user.content.support"} | CONTACT,
        "fraud_prevention": {"user.behavior.purchase"} | CONTACT,
        # the customer's own account page: who they are, how to reach them, language, time zone, birthday
        "customer_account": {
            "user.name",
            "user.unique_id",
            "user.demographic.language",
            "user.location.timezone",
            "user.demographic.date_of_birth",
        }
        | CONTACT,
    },
    # broad strokes and purchases for any marketing channel; email only to the email channel
    "marketing_tool": {
        "marketing": {"user.name", "user.behavior.purchase", "user.behavior.subscription"} | COARSE,
        "marketing.ads": {"user.name", "user.behavior.purchase", "user.behavior.subscription"} | COARSE,
        "marketing.email": {"user.name", "user.contact.email", "user.behavior.purchase", "user.behavior.subscription"}
        | COARSE,
    },
    # shop platforms only write (orders, checkouts, customers, consent answers); they read nothing back
    "shop_connector": {},
    # the worker deciding triggers: birthday, time zone, language and behaviour, for marketing only
    "trigger_engine": dict.fromkeys(
        ("marketing", "marketing.ads", "marketing.email"),
        {"user.demographic.date_of_birth", "user.demographic.language", "user.location.timezone"} | BEHAVIOUR,
    ),
    # a destination is rendered what it may receive: broad strokes and purchases; email only on the email channel,
    # never the birth date (a birthday greeting is rendered here, not there)
    "destination": {
        "marketing": {"user.name", "user.behavior.purchase"} | COARSE,
        "marketing.ads": {"user.name", "user.behavior.purchase", "user.unique_id.pseudonymous"} | COARSE,
        "marketing.email": {"user.name", "user.behavior.purchase", "user.contact.email"} | COARSE,
    },
    # the support desk: who the customer is, how to reach them, what they bought and wrote
    "support_agent": {
        "support": {
            "user.name",
            "user.unique_id",
            "user.behavior.purchase",
            "user.content.support",
            "user.content.review",
        }
        | CONTACT,
        # the review queue: enough to tell whether two records are one person
        "identity_resolution": {"user.name", "user.unique_id", "user.contact.email", "user.contact.phone_number"},
    },
}


def expected(role: str, purpose: str, category: str) -> bool:
    allowed = EXPECTED[role].get(purpose, set())
    return allowed == ALL or category in allowed


GATE = PolicyGate()
ROLES = sorted(GATE.roles)
PURPOSES = sorted(GATE.purposes.names())


def _probes() -> dict[str, str]:
    """One selection per data category: a Profile field, or an events(types:) filter."""
    probes: dict[str, str] = {}
    for (type_name, field), category in static_field_categories().items():
        if type_name == "Profile":
            probes.setdefault(category, field)
    for event_type, spec in dictionary().events.items():
        probes.setdefault(spec.category, f'events(types: ["{event_type}"]) {{ nodes {{ id }} }}')
    return probes


PROBES = _probes()


@pytest.fixture(params=["sqlite"])  # a policy property, not a storage one: one backend is enough
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    return f"sqlite:///{tmp_path / 'cdp.db'}"


def test_matrix_covers_the_dictionary_and_every_role_and_purpose() -> None:
    traits = {spec.category for spec in dictionary().traits.values()}
    assert traits <= set(PROBES)
    assert {spec.category for spec in dictionary().events.values()} <= set(PROBES)
    assert set(EXPECTED) == set(ROLES), "write down what a new role may read in EXPECTED"
    listed = {p for purposes in EXPECTED.values() for p in purposes}
    assert listed <= set(PURPOSES)
    assert set(EXPECTED["admin"]) == set(PURPOSES), "write down who may read what for a new purpose in EXPECTED"


def test_every_role_purpose_category_through_the_endpoint(store: Store, gql: GraphQLClient) -> None:
    [outcome] = ingest_all(
        store,
        event(
            {"email": "matrix@example.com"}, country="US", traits={camel_name: "x" for camel_name in ("first_name",)}
        ),
    )
    keys = {role: gql.key(role) for role in ROLES if role != "data_subject"}
    keys["data_subject"] = gql.key("data_subject", profile_id=outcome.profile_id)
    mismatches = []
    for role in ROLES:
        for purpose in PURPOSES:
            for category, selection in PROBES.items():
                allowed = expected(role, purpose, category)
                response = gql.query(
                    f'query {{ profile(id: "{outcome.profile_id}") {{ id {selection} }} }}',
                    key=keys[role],
                    purpose=purpose,
                )
                denied = any("access denied" in e["message"] for e in response.get("errors", []))
                if denied == allowed:
                    mismatches.append((role, purpose, category, "allowed" if allowed else "denied", response))
    assert not mismatches, mismatches[:5]


@pytest.mark.parametrize(
    ("role", "purpose", "category", "allowed"),
    [
        ("analyst", "analytics", "user.contact.email", False),
        ("analyst", "analytics", "user.behavior.purchase", True),
        ("marketing_tool", "marketing.email", "user.contact.email", True),
        ("marketing_tool", "marketing.ads", "user.contact.email", False),
        ("marketing_tool", "marketing.email", "user.contact.address.street", False),
        ("support_agent", "support", "user.name", True),
        ("support_agent", "marketing", "user.name", False),
        ("frontend_app", "order_fulfillment", "user.contact.address.street", True),
        ("compliance_officer", "legal_compliance", "user.demographic.date_of_birth", True),
        ("compliance_officer", "support", "user.name", False),
    ],
)
def test_hand_checked_read_decisions(role: str, purpose: str, category: str, allowed: bool) -> None:
    """The table and casbin agree on decisions a person checked one by one in policy.csv."""
    assert expected(role, purpose, category) is allowed
    assert GATE.enforce(role, purpose, category, "read") is allowed


@pytest.mark.parametrize(
    ("role", "purpose", "category", "action", "allowed"),
    [
        # deny wins: the subject's wildcard grant never reaches the platform's own records
        ("data_subject", "data_subject_rights", "system.privacy_request", "write", False),
        ("data_subject", "data_subject_rights", "system.audit_log", "read", False),
        ("data_subject", "data_subject_rights", "user.contact.email", "erase", True),
        # the request queue: officers and admins run it, no one else
        ("compliance_officer", "data_subject_rights", "system.privacy_request", "write", True),
        ("compliance_officer", "legal_compliance", "system.privacy_request", "write", False),
        ("analyst", "data_subject_rights", "system.privacy_request", "write", False),
        ("marketing_tool", "data_subject_rights", "system.privacy_request", "write", False),
        ("support_agent", "data_subject_rights", "system.privacy_request", "read", False),
        ("admin", "data_subject_rights", "system.privacy_request", "write", True),
        # free text unredacted: only roles holding every category for the purpose
        ("support_agent", "support", "user.content.unredacted", "read", False),
        ("compliance_officer", "legal_compliance", "user.content.unredacted", "read", True),
        # payment data and bulk export are never the support desk's, whatever the purpose
        ("support_agent", "support", "user.financial.credit_card", "read", False),
        ("support_agent", "support", "user.name", "export", False),
        ("analyst", "analytics", "user.behavior.purchase", "write", False),
    ],
)
def test_hand_checked_decisions_of_every_action(
    role: str, purpose: str, category: str, action: str, allowed: bool
) -> None:
    assert GATE.grants(role, purpose).allows(action, category) is allowed
