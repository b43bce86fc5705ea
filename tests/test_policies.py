"""The policies package: policy data, purposes, data dictionary and the gate's decision core."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from policies import dictionary, purposes
from policies.errors import (
    AccessDenied,
    PolicyFileError,
    UnknownField,
    UnknownJurisdiction,
    UnknownPurpose,
    UnknownRole,
)
from policies.gate import ACTIONS, FILES, POLICY_DIR, PolicyGate, category_match, purpose_match

ROLES = {
    "admin",
    "frontend_app",
    "support_agent",
    "marketing_tool",
    "analyst",
    "compliance_officer",
    "data_subject",
}
PURPOSES = {
    "support",
    "order_fulfillment",
    "marketing",
    "marketing.email",
    "marketing.ads",
    "analytics",
    "personalization",
    "fraud_prevention",
    "legal_compliance",
    "data_subject_rights",
}


@pytest.fixture(scope="module")
def gate() -> PolicyGate:
    return PolicyGate()


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the policy files, safe to edit."""
    for name in FILES:
        shutil.copy(POLICY_DIR / name, tmp_path / name)
    return tmp_path


def write_rules(policy_dir: Path, *rules: str) -> None:
    """Replace policy.csv, moving its mtime forward so the change is seen even on coarse-mtime filesystems."""
    path = policy_dir / "policy.csv"
    before = path.stat().st_mtime_ns
    path.write_text("\n".join(rules) + "\n")
    os.utime(path, ns=(before + 10**9, before + 10**9))


# --- matching -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "pattern", "expected"),
    [
        ("user.contact.email", "*", True),
        ("user.contact.email", "user.contact.*", True),
        ("user.contact.address.street", "user.contact.*", True),
        ("user.contact", "user.contact.*", True),  # a subtree includes its root
        ("user.contactless", "user.contact.*", False),  # no match across a dot boundary
        ("user.name", "user.contact.*", False),
        ("user.contact.address.street", "user.contact.address", False),  # exact means exact
        ("user.contact.address", "user.contact.address", True),
    ],
)
def test_category_match(category: str, pattern: str, expected: bool) -> None:
    assert category_match(category, pattern) is expected


@pytest.mark.parametrize(
    ("purpose", "pattern", "expected"),
    [
        ("marketing.email", "marketing", True),
        ("marketing", "marketing", True),
        ("marketing", "marketing.email", False),  # a child's grant does not reach the parent
        ("marketingx", "marketing", False),
        ("analytics", "*", True),
    ],
)
def test_purpose_match(purpose: str, pattern: str, expected: bool) -> None:
    assert purpose_match(purpose, pattern) is expected


def test_deny_overrides_allow_whatever_the_order(policy_dir: Path) -> None:
    write_rules(
        policy_dir,
        "p, clerk, support, user.financial.*, read, deny",
        "p, clerk, support, user.*, read, allow",
        "p, clerk, support, user.name, read, deny",
    )
    grants = PolicyGate(policy_dir).grants("clerk", "support")
    assert grants.allows("read", "user.contact.email")
    assert not grants.allows("read", "user.name")
    assert not grants.allows("read", "user.financial.credit_card")
    assert not grants.allows("write", "user.contact.email")  # no rule at all → denied


def test_grant_on_parent_purpose_covers_children(gate: PolicyGate) -> None:
    # user.name is granted on `marketing`; user.contact.email only on `marketing.email`.
    for purpose in ("marketing", "marketing.email", "marketing.ads"):
        assert gate.grants("marketing_tool", purpose).allows("read", "user.name"), purpose
    assert gate.grants("marketing_tool", "marketing.email").allows("read", "user.contact.email")
    assert not gate.grants("marketing_tool", "marketing.ads").allows("read", "user.contact.email")
    assert not gate.grants("marketing_tool", "marketing").allows("read", "user.contact.email")


# --- the policy, role by role -------------------------------------------------------------------------------


def test_policy_names_every_role_and_purpose(gate: PolicyGate) -> None:
    assert gate.roles >= ROLES
    assert gate.purposes.names() >= PURPOSES
    # Every purpose is usable by someone other than admin.
    for purpose in PURPOSES:
        assert any(gate.grants(role, purpose).allowed_categories("read") for role in ROLES - {"admin"}), purpose


@pytest.mark.parametrize(
    ("role", "purpose", "action", "category", "expected"),
    [
        # support_agent
        ("support_agent", "support", "read", "user.name", True),
        ("support_agent", "support", "read", "user.contact.email", True),
        ("support_agent", "support", "read", "user.contact.address.street", True),
        ("support_agent", "support", "read", "user.behavior.purchase", True),
        ("support_agent", "support", "read", "user.content.support", True),
        ("support_agent", "support", "write", "user.content.support", True),
        ("support_agent", "support", "read", "user.government_id", False),
        ("support_agent", "support", "read", "user.financial.credit_card", False),
        ("support_agent", "support", "read", "user.financial", False),
        ("support_agent", "support", "export", "user.name", False),
        ("support_agent", "marketing.email", "read", "user.name", False),
        # marketing_tool
        ("marketing_tool", "marketing.email", "read", "user.contact.email", True),
        ("marketing_tool", "marketing.email", "export", "user.contact.email", True),
        ("marketing_tool", "marketing.email", "read", "user.demographic.language", True),
        ("marketing_tool", "marketing.email", "read", "user.location.timezone", True),
        ("marketing_tool", "marketing.email", "read", "user.behavior.purchase", True),
        ("marketing_tool", "marketing.ads", "read", "user.unique_id.pseudonymous", True),
        ("marketing_tool", "marketing.email", "read", "user.contact.address.street", False),
        ("marketing_tool", "marketing.email", "read", "user.demographic.date_of_birth", False),
        ("marketing_tool", "marketing.email", "read", "user.contact.phone_number", False),
        ("marketing_tool", "marketing.email", "erase", "user.contact.email", False),
        ("marketing_tool", "analytics", "read", "user.behavior.purchase", False),
        # analyst
        ("analyst", "analytics", "read", "user.behavior.browsing", True),
        ("analyst", "analytics", "read", "user.behavior.purchase", True),
        ("analyst", "analytics", "read", "user.contact.address.country", True),
        ("analyst", "analytics", "read", "user.demographic.language", True),
        ("analyst", "analytics", "read", "user.unique_id.pseudonymous", True),
        ("analyst", "analytics", "read", "user.unique_id", False),
        ("analyst", "analytics", "read", "user.name", False),
        ("analyst", "analytics", "read", "user.contact.email", False),
        ("analyst", "analytics", "read", "user.contact.address.postal_code", False),
        ("analyst", "analytics", "read", "user.device.ip_address", False),
        ("analyst", "analytics", "write", "user.behavior.browsing", False),
        # frontend_app
        ("frontend_app", "order_fulfillment", "read", "user.contact.address.street", True),
        ("frontend_app", "order_fulfillment", "write", "user.behavior.purchase", True),
        ("frontend_app", "order_fulfillment", "read", "user.unique_id", True),
        ("frontend_app", "personalization", "read", "user.behavior.browsing", True),
        ("frontend_app", "personalization", "write", "user.behavior.browsing", True),
        ("frontend_app", "personalization", "read", "user.contact.email", False),
        ("frontend_app", "support", "write", "user.content.support", True),
        ("frontend_app", "fraud_prevention", "read", "user.device.ip_address", True),
        ("frontend_app", "order_fulfillment", "read", "user.financial.credit_card", False),
        ("frontend_app", "order_fulfillment", "export", "user.name", False),
        ("frontend_app", "analytics", "read", "user.behavior.browsing", False),
        # compliance_officer
        ("compliance_officer", "legal_compliance", "read", "user.government_id", True),
        ("compliance_officer", "legal_compliance", "export", "user.financial.bank_account", True),
        ("compliance_officer", "data_subject_rights", "erase", "user.contact.email", True),
        ("compliance_officer", "legal_compliance", "erase", "user.contact.email", False),
        ("compliance_officer", "marketing", "read", "user.name", False),
        # data_subject
        ("data_subject", "data_subject_rights", "read", "user.unclassified", True),
        ("data_subject", "data_subject_rights", "export", "user.contact.email", True),
        ("data_subject", "data_subject_rights", "erase", "user.name", True),
        ("data_subject", "data_subject_rights", "write", "user.contact.address.street", True),
        ("data_subject", "support", "read", "user.name", False),
        # admin
        ("admin", "analytics", "read", "user.government_id", True),
        ("admin", "marketing.ads", "erase", "user.contact.email", True),
    ],
)
def test_role_decisions(gate: PolicyGate, role: str, purpose: str, action: str, category: str, expected: bool) -> None:
    assert gate.grants(role, purpose).allows(action, category) is expected
    assert gate.enforce(role, purpose, category, action) is expected


def test_grants_agree_with_casbin_everywhere(gate: PolicyGate) -> None:
    # Known categories plus two the precomputation never saw (the memoized fallback path).
    categories = sorted(gate.categories | {"user.financial.crypto_wallet", "user.contact.address"})
    mismatches = [
        (role, purpose, category, action)
        for role in sorted(gate.roles)
        for purpose in sorted(gate.purposes.names())
        for category in categories
        for action in ACTIONS
        if gate.grants(role, purpose).allows(action, category) != gate.enforce(role, purpose, category, action)
    ]
    assert mismatches == []


# --- grants: cache, reload, errors --------------------------------------------------------------------------


def test_known_categories_are_answered_without_casbin(policy_dir: Path, monkeypatch) -> None:
    gate = PolicyGate(policy_dir)
    grants = gate.grants("support_agent", "support")

    def no_enforce(*request: str) -> bool:
        raise AssertionError(f"casbin consulted for {request}")

    monkeypatch.setattr(gate._policy.enforcer, "enforce", no_enforce)
    assert all(isinstance(grants.allows(a, c), bool) for a in ACTIONS for c in gate.categories)
    with pytest.raises(AssertionError, match="casbin consulted"):
        grants.allows("read", "user.financial.crypto_wallet")


def test_grants_are_cached_per_role_purpose_and_version(policy_dir: Path) -> None:
    gate = PolicyGate(policy_dir)
    first = gate.grants("analyst", "analytics")
    assert gate.grants("analyst", "analytics") is first
    assert gate.grants("analyst", "analytics") is not gate.grants("analyst", "marketing")
    assert gate.reload_if_changed() is False

    version = gate.version
    with (policy_dir / "policy.csv").open("a") as f:
        f.write("p, analyst, analytics, user.content.review, read, allow\n")
    os.utime(policy_dir / "policy.csv", ns=(1, 1))  # mtime differs from before, whatever the clock
    assert gate.reload_if_changed() is True
    assert gate.version != version
    second = gate.grants("analyst", "analytics")
    assert second is not first
    assert second.version == gate.version
    assert second.allows("read", "user.content.review")
    assert not first.allows("read", "user.content.review")  # an old Grants keeps answering for its version


def test_touched_but_unchanged_files_keep_the_cache(policy_dir: Path) -> None:
    gate = PolicyGate(policy_dir)
    grants = gate.grants("support_agent", "support")
    os.utime(policy_dir / "purposes.yaml", ns=(1, 1))
    assert gate.reload_if_changed() is False
    assert gate.grants("support_agent", "support") is grants


def test_invalid_edit_keeps_the_previous_policy(policy_dir: Path) -> None:
    gate = PolicyGate(policy_dir)
    version = gate.version
    write_rules(policy_dir, "p, analyst, analytcs, user.behavior.*, read, allow")
    with pytest.raises(PolicyFileError, match=r"policy\.csv: rule 'p, analyst, analytcs.*unknown purpose"):
        gate.reload_if_changed()
    assert gate.version == version
    assert gate.grants("analyst", "analytics").allows("read", "user.behavior.browsing")


def test_grants_are_built_once_under_concurrency(policy_dir: Path) -> None:
    gate = PolicyGate(policy_dir)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: gate.grants("frontend_app", "support"), range(32)))
    assert all(g is results[0] for g in results)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("p, analyst, analytics, user.behavior.*, read, alow", "effect must be allow or deny"),
        ("p, analyst, analytics, user.behavior.*, view, allow", "unknown action 'view'"),
        ("p, analyst, analytics, user.behavior*, read, allow", "invalid category pattern"),
        ("p, analyst, analytics, user.behavior.*, read", "expected 5 fields"),
    ],
)
def test_bad_policy_rules_are_named(policy_dir: Path, rule: str, message: str) -> None:
    write_rules(policy_dir, rule)
    with pytest.raises(PolicyFileError, match=message) as exc:
        PolicyGate(policy_dir)
    assert "policy.csv" in str(exc.value)


def test_unknown_role_and_purpose_are_clear(gate: PolicyGate) -> None:
    with pytest.raises(UnknownRole, match=r"unknown role 'intern'; roles in policy.csv: admin, analyst"):
        gate.grants("intern", "support")
    with pytest.raises(UnknownPurpose, match=r"unknown purpose 'sales'; valid purposes: analytics, .*support"):
        gate.grants("analyst", "sales")


def test_unknown_action_and_malformed_category_raise(gate: PolicyGate) -> None:
    grants = gate.grants("analyst", "analytics")
    with pytest.raises(ValueError, match="unknown action 'delete'"):
        grants.allows("delete", "user.name")
    with pytest.raises(ValueError, match="invalid data category"):
        grants.allows("read", "User Name")


def test_missing_and_access_denied(gate: PolicyGate) -> None:
    grants = gate.grants("analyst", "analytics")
    wanted = ["user.behavior.purchase", "user.name", "user.contact.email", "user.name"]
    assert grants.missing("read", wanted) == ["user.name", "user.contact.email"]
    grants.require("read", "user.behavior.purchase")
    with pytest.raises(AccessDenied) as exc:
        grants.require("read", "user.contact.email", field="email")
    denied = exc.value
    assert (denied.role, denied.purpose, denied.action, denied.category, denied.field) == (
        "analyst",
        "analytics",
        "read",
        "user.contact.email",
        "email",
    )
    assert str(denied) == (
        "access denied: role 'analyst' may not read field 'email' (category 'user.contact.email') for "
        "purpose 'analytics'; missing grant (analyst, analytics, user.contact.email, read)"
    )


def test_grants_are_immutable(gate: PolicyGate) -> None:
    grants = gate.grants("analyst", "analytics")
    with pytest.raises(AttributeError):
        grants.role = "admin"  # type: ignore[misc]


# --- purposes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "jurisdiction", "expected"),
    [
        ("marketing.email", "EU", True),
        ("marketing.email", "UK", True),
        ("marketing.email", "CN", True),
        ("marketing.email", "BR", True),
        ("marketing.email", "JP", True),
        ("marketing.email", "US", False),
        ("marketing.email", "US-CA", False),
        ("marketing.email", None, True),  # unknown jurisdiction → strictest rule
        ("analytics", "EU", True),
        ("analytics", "US", False),
        ("support", "EU", False),
        ("order_fulfillment", "CN", False),
        ("legal_compliance", None, False),
    ],
)
def test_requires_consent(purpose: str, jurisdiction: str | None, expected: bool) -> None:
    assert purposes.requires_consent(purpose, jurisdiction) is expected


def test_purpose_tree_and_sale_or_sharing() -> None:
    assert purposes.ancestors("marketing.email") == ["marketing"]
    assert purposes.ancestors("support") == []
    assert purposes.get("marketing.ads").parent == "marketing"
    assert purposes.get("marketing.ads").legal_basis["US-CA"] == "legitimate_interests"
    assert purposes.consent_mode("marketing.ads", "US-CA") == "opt_out"
    assert purposes.get("legal_compliance").legal_basis["EU"] == "legal_obligation"
    # GPC withdraws ads, and the umbrella purpose that could otherwise be declared to reach them.
    assert purposes.sale_or_sharing_purposes() == {"marketing", "marketing.ads"}


def test_unknown_purpose_and_jurisdiction() -> None:
    with pytest.raises(
        UnknownPurpose, match="valid purposes: analytics, cross_border_transfer, customer_account, data_subject_rights"
    ):
        purposes.get("newsletter")
    with pytest.raises(UnknownJurisdiction, match="unknown jurisdiction 'DE'; valid: EU, UK"):
        purposes.requires_consent("marketing.email", "DE")


def _purposes_doc() -> dict:
    return yaml.safe_load((POLICY_DIR / "purposes.yaml").read_text())


def _break_unknown_key(doc: dict) -> None:
    doc["purposes"]["analytics"]["legal_bases"] = {}


def _break_missing_jurisdiction(doc: dict) -> None:
    del doc["purposes"]["support"]["jurisdictions"]["BR"]


def _break_consent_value(doc: dict) -> None:
    doc["purposes"]["analytics"]["jurisdictions"]["US"]["consent"] = "maybe"


def _break_basis_mismatch(doc: dict) -> None:
    doc["purposes"]["analytics"]["jurisdictions"]["US"]["consent"] = "opt_in"


def _break_looser_parent(doc: dict) -> None:
    doc["purposes"]["marketing"]["jurisdictions"]["EU"] = {
        "legal_basis": "legitimate_interests",
        "consent": "none",
    }


def _break_orphan(doc: dict) -> None:
    doc["purposes"]["loyalty.points"] = doc["purposes"]["support"]


def _break_parent_not_sharing(doc: dict) -> None:
    doc["purposes"]["marketing"]["sale_or_sharing"] = False


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (_break_unknown_key, r"'purposes\.analytics': unknown keys \['legal_bases'\]"),
        (_break_missing_jurisdiction, r"'purposes\.support\.jurisdictions': missing keys \['BR'\]"),
        (_break_consent_value, r"'purposes\.analytics\.jurisdictions\.US\.consent': 'maybe' is not one of"),
        (
            _break_basis_mismatch,
            r"'purposes\.analytics\.jurisdictions\.US': legal_basis consent and consent opt_in",
        ),
        (
            _break_looser_parent,
            r"'purposes\.marketing\.jurisdictions\.EU\.consent': 'none' is looser than child",
        ),
        (_break_orphan, r"'purposes\.loyalty\.points': parent purpose 'loyalty' is not declared"),
        (_break_parent_not_sharing, r"'purposes\.marketing\.sale_or_sharing': must be true because child"),
    ],
)
def test_purposes_validation_names_file_and_key(tmp_path: Path, breaker, message: str) -> None:
    doc = _purposes_doc()
    breaker(doc)
    path = tmp_path / "purposes.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(PolicyFileError, match=message) as exc:
        purposes.load_purposes(path)
    assert str(exc.value).startswith(f"{path}: ")


def test_gate_reports_bad_purposes_file(policy_dir: Path) -> None:
    (policy_dir / "purposes.yaml").write_text("jurisdictions: [EU]\npurposes: {support: [x]}\n")
    with pytest.raises(PolicyFileError, match=r"purposes\.yaml: 'purposes\.support': expected a mapping"):
        PolicyGate(policy_dir)


# --- data dictionary ----------------------------------------------------------------------------------------


def test_dictionary_categories() -> None:
    assert dictionary.category_of_trait("first_name") == "user.name"
    assert dictionary.category_of_trait("shoe_size") == "user.unclassified"
    assert dictionary.category_of_identifier("email") == "user.contact.email"
    assert dictionary.category_of_identifier("anonymous_id") == "user.unique_id.pseudonymous"
    assert dictionary.category_of_event("order") == "user.behavior.purchase"
    assert {"user.name", "user.unclassified", "user.government_id", "user.device.ip_address"} <= (
        dictionary.all_categories()
    )


def test_dictionary_specs() -> None:
    spec = dictionary.default_dictionary().identifier("email")
    assert spec == dictionary.FieldSpec("email", "identifier", "user.contact.email", "high", True, True)
    assert dictionary.default_dictionary().event("ticket").searchable is False
    assert dictionary.default_dictionary().trait("nickname").name == "undeclared_trait"


def test_dictionary_unknown_kinds_fail_closed() -> None:
    with pytest.raises(UnknownField, match="unknown identifier kind 'ssn'; declared in fields.yaml: amazon_buyer_id"):
        dictionary.category_of_identifier("ssn")
    with pytest.raises(UnknownField, match="unknown event type 'click'"):
        dictionary.category_of_event("click")


def test_dictionary_validation_names_file_and_key(tmp_path: Path) -> None:
    doc = yaml.safe_load((POLICY_DIR / "fields.yaml").read_text())
    doc["traits"]["birthday"]["encrypted"] = False
    path = tmp_path / "fields.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(PolicyFileError, match=r"fields\.yaml: 'traits\.birthday': encrypted must be true"):
        dictionary.load_dictionary(path)
