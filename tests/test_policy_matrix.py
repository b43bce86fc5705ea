"""Every role x purpose x data category, through the real GraphQL endpoint.

The oracle is casbin itself evaluating policies/policy.csv (a fresh enforcer per decision, no grants cache);
the subject under test is the whole request path: API key, purpose header, pre-execution field check.
"""

from __future__ import annotations

import pytest

from cdp.categories import static_field_categories
from cdp.dictionary import dictionary
from cdp.store import Store
from policies.gate import PolicyGate
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient

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


def test_matrix_covers_the_dictionary() -> None:
    traits = {spec.category for spec in dictionary().traits.values()}
    assert traits <= set(PROBES)
    assert {spec.category for spec in dictionary().events.values()} <= set(PROBES)
    assert len(ROLES) >= 7 and len(PURPOSES) >= 9


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
                expected = GATE.enforce(role, purpose, category, "read")
                response = gql.query(
                    f'query {{ profile(id: "{outcome.profile_id}") {{ id {selection} }} }}',
                    key=keys[role],
                    purpose=purpose,
                )
                denied = any("access denied" in e["message"] for e in response.get("errors", []))
                if denied == expected:
                    mismatches.append((role, purpose, category, "allowed" if expected else "denied", response))
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
def test_hand_checked_decisions(role: str, purpose: str, category: str, allowed: bool) -> None:
    """The oracle itself, against decisions a person checked in policy.csv."""
    assert GATE.enforce(role, purpose, category, "read") is allowed
