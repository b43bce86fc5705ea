"""Compliance services and their doors: the record of processing (against fideslang's published resource
shape), trait lineage (service, GraphQL, denials), the breach register (service, CLI, append-only), and
console staff accounts (CLI, argon2id, TOTP replay; the lockout is tested through the console's sign-in door in
test_web_console.py)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import yaml
from sqlalchemy import select, text
from typer.testing import CliRunner

import audit
from cdp.access.gate import AccessContext, SubjectScopeError, policy_gate
from cdp.auth.service import Principal
from cdp.auth.staff import SignInFailed, StaffAccount, check_credentials
from cdp.cli.main import app
from cdp.compliance import incidents, lineage, ropa
from cdp.compliance.models import IncidentEvent
from cdp.settings import Settings
from cdp.store import Store
from policies.errors import AccessDenied
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient

runner = CliRunner()
TODAY = datetime(2026, 11, 30, tzinfo=UTC).date()


def officer() -> AccessContext:
    """A fresh context per use: a context records the subjects it returned."""
    return AccessContext.for_principal(Principal("k-officer", "officer", "compliance_officer"), "legal_compliance")


# -- record of processing -------------------------------------------------------------------------------------
# fideslang 3.1.4 (src/fideslang/models.py): required fields of the resources the YAML holds, and the values
# LegalBasisForProcessingEnum allows. Written out by hand as the oracle: fideslang pins pydantic < 2.13.
FIDES_SYSTEM_REQUIRED = {"fides_key", "system_type", "privacy_declarations"}
FIDES_DECLARATION_REQUIRED = {"data_categories", "data_use"}
FIDES_DATASET_REQUIRED = {"fides_key", "collections"}
FIDES_LEGAL_BASES = {"Consent", "Contract", "Legal obligations", "Vital interests", "Public interest",
                     "Legitimate interests"}  # fmt: skip
FIDES_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-<>")


def _ropa() -> ropa.Ropa:
    return ropa.build(policy_gate(), ["mailchimp eu"], TODAY)


def test_ropa_yaml_has_fideslang_system_and_dataset_shape() -> None:
    doc = yaml.safe_load(ropa.to_yaml(_ropa()))
    assert set(doc) == {"system", "dataset"}
    [system] = doc["system"]
    assert set(system) >= FIDES_SYSTEM_REQUIRED
    for declaration in system["privacy_declarations"]:
        assert set(declaration) >= FIDES_DECLARATION_REQUIRED
        assert set(declaration["data_use"]) <= FIDES_KEY_CHARS and declaration["data_categories"]
        assert declaration.get("legal_basis_for_processing", "Consent") in FIDES_LEGAL_BASES
    assert system["egress"] == [{"fides_key": "mailchimp_eu", "type": "system"}]
    [dataset] = doc["dataset"]
    assert set(dataset) >= FIDES_DATASET_REQUIRED
    fields = {f["name"]: f["data_categories"] for c in dataset["collections"] for f in c["fields"]}
    assert fields["email"] == ["user.contact.email"] and fields["birthday"] == ["user.demographic.date_of_birth"]


def test_ropa_rows_match_the_policy_files() -> None:
    rows = list(csv.DictReader(io.StringIO(ropa.to_csv(_ropa()))))
    assert len(rows) == len(policy_gate().purposes.names()) * 7  # one per purpose and jurisdiction
    row = {(r["purpose"], r["jurisdiction"]): r for r in rows}
    # Hand-checked against purposes.yaml, policy.csv, retention.yaml and ropa.yaml.
    assert (row["marketing.email", "EU"]["legal_basis"], row["marketing.email", "EU"]["consent"]) == (
        "consent",
        "opt_in",
    )
    assert row["marketing.email", "US-CA"]["consent"] == "opt_out"
    assert row["order_fulfillment", "CN"]["legal_basis"] == "contract"
    assert "user.contact.email" in row["marketing.email", "EU"]["categories"].split("; ")
    assert "user.contact.email" not in row["analytics", "EU"]["categories"].split("; ")  # analyst is denied it
    # the trigger engine reads for marketing and destinations receive what marketing may send
    assert row["marketing", "EU"]["recipients"].split("; ") == [
        "admin",
        "destination",
        "marketing_tool",
        "trigger_engine",
    ]
    assert "180 days" in row["analytics", "EU"]["retention"]
    assert row["analytics", "EU"]["transfer"] == "no" and row["analytics", "CN"]["transfer"] == "yes"
    assert "PIPL Art. 38" in row["analytics", "CN"]["transfer_mechanism"]
    assert json.loads(ropa.to_json(_ropa()))["storage"]["region"] == "EU"


def test_ropa_command(cli_env: Settings) -> None:
    result = runner.invoke(app, ["ropa", "--format", "yaml"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["system"][0]["fides_key"] == "cdp"
    refused = runner.invoke(app, ["ropa", "--format", "xml"])
    assert refused.exit_code == 1 and "csv, json, yaml" in refused.output


# -- lineage ------------------------------------------------------------------------------------------------------
def _merged_customer(store: Store) -> tuple[str, str]:
    """A customer seen by email (shopify), then by phone (amazon), then by both: two profiles merged."""
    [first] = ingest_all(store, event({"email": "lin@example.de"}, traits={"first_name": "Lin"},
                                      occurred_at="2026-03-01T10:00:00+00:00"))  # fmt: skip
    [second] = ingest_all(store, event({"phone": "+4915112345678"}, source="amazon", traits={"first_name": "Linda"},
                                       occurred_at="2026-03-02T10:00:00+00:00"))  # fmt: skip
    ingest_all(store, event({"email": "lin@example.de", "phone": "+4915112345678"}, source="website",
                            occurred_at="2026-03-03T10:00:00+00:00"))  # fmt: skip
    return first.profile_id, second.profile_id


def test_lineage_names_source_event_time_and_the_merge(store: Store) -> None:
    survivor, absorbed = _merged_customer(store)
    with store.transaction() as session:
        access = officer()
        found = lineage.trait_lineage(session, store, access, absorbed, "first_name")
    assert found.customer_id == survivor and found.category == "user.name"
    older, newer = found.observations
    assert (older.value, older.source, older.profile_id, older.served) == ("Lin", "shopify", survivor, False)
    assert (newer.value, newer.source, newer.profile_id, newer.served) == ("Linda", "amazon", absorbed, True)
    assert newer.observed_at == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert [e.source for e in newer.events] == ["amazon"]
    [merge] = newer.merges
    assert (merge.survivor_id, merge.absorbed_id, merge.unmerged_at) == (survivor, absorbed, None)
    assert older.merges == []
    assert access.subjects == {survivor} and access.categories == {"user.name"}


@pytest.mark.parametrize(
    ("role", "purpose"),
    [("analyst", "analytics"), ("compliance_officer", "marketing"), ("support_agent", "fraud_prevention")],
)
def test_lineage_needs_read_of_the_traits_category(store: Store, role: str, purpose: str) -> None:
    survivor, _ = _merged_customer(store)
    access = AccessContext.for_principal(Principal("k", "k", role), purpose)
    with store.session() as session, pytest.raises(AccessDenied, match="user.name"):
        lineage.trait_lineage(session, store, access, survivor, "first_name")


def test_lineage_of_another_subject_is_refused(store: Store) -> None:
    survivor, _ = _merged_customer(store)
    [other] = ingest_all(store, event({"email": "other@example.de"}, traits={"first_name": "O"}))
    token = AccessContext.for_principal(Principal("t", "t", "data_subject", other.profile_id), "data_subject_rights")
    with store.session() as session, pytest.raises(SubjectScopeError):
        lineage.trait_lineage(session, store, token, survivor, "first_name")


def test_lineage_over_graphql_is_audited(store: Store, gql: GraphQLClient) -> None:
    survivor, _ = _merged_customer(store)
    document = (gql_root() / "operations" / "compliance" / "TraitLineage.graphql").read_text()
    key = gql.key("compliance_officer")
    body = gql.query(document, {"profileId": survivor, "trait": "first_name"}, key=key, purpose="legal_compliance")
    observations = body["data"]["traitLineage"]["observations"]
    assert [(o["value"], o["served"]) for o in observations] == [("Lin", False), ("Linda", True)]
    with store.session() as session:
        entry = audit.query(session, limit=1000)[-1]
    assert entry.operation == "graphql:TraitLineage" and entry.subject_id_list == [survivor]
    assert entry.category_list == ["user.name"]
    denied = gql.query(document, {"profileId": survivor, "trait": "first_name"}, key=gql.key("analyst"),
                       purpose="analytics")  # fmt: skip
    assert denied["data"]["traitLineage"] is None and "user.name" in denied["errors"][0]["message"]


def gql_root():  # noqa: ANN201
    from tests.graphql_client import OPERATIONS_DIR

    return OPERATIONS_DIR.parent


# -- breach register -----------------------------------------------------------------------------------------------
def test_affected_customers_by_actor_and_window(store: Store) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    ingest_all(store, event({"email": "x1@example.de"}), event({"email": "x2@example.jp"}, country="JP"))
    end = datetime.now(UTC) + timedelta(seconds=1)
    with store.transaction() as session:
        incident = incidents.open_incident(session, officer(), title="Export left public", description="",
                                           aware_at=datetime.now(UTC), window=(start, end))  # fmt: skip
        by_operator = incidents.affected_subjects(session, officer(), since=start, until=end, actor="nobody")
    assert by_operator == []
    with store.transaction() as session:
        view = incidents.view_incident(session, officer(), incident.id)
    assert view.affected == {"EU": 1, "JP": 1}
    assert view.incident.regulator_due_at - view.incident.aware_at == timedelta(hours=72)
    drafts = {d.jurisdiction: d.text for d in incidents.drafts(view)}
    assert "GDPR Art. 33" in drafts["EU"] and "APPI Art. 26" in drafts["JP"]


@pytest.mark.parametrize(
    ("role", "purpose"),
    [("analyst", "analytics"), ("support_agent", "support"), ("compliance_officer", "marketing")],
)
def test_opening_an_incident_needs_the_register_grant(store: Store, role: str, purpose: str) -> None:
    access = AccessContext.for_principal(Principal("k", "k", role), purpose)
    with store.session() as session, pytest.raises(AccessDenied, match="system.incident"):
        incidents.open_incident(session, access, title="t", description="", aware_at=datetime.now(UTC))


def test_a_data_subject_token_cannot_read_the_register(store: Store) -> None:
    [me] = ingest_all(store, event({"email": "me@example.de"}))
    token = AccessContext.for_principal(Principal("t", "t", "data_subject", me.profile_id), "data_subject_rights")
    with store.session() as session, pytest.raises(SubjectScopeError):
        incidents.list_incidents(session, token)


def test_bad_times_are_refused_by_name(store: Store) -> None:
    with store.session() as session:
        with pytest.raises(incidents.IncidentError, match="aware_at: must not be in the future"):
            incidents.open_incident(session, officer(), title="t", description="",
                                    aware_at=datetime.now(UTC) + timedelta(days=1))  # fmt: skip
        with pytest.raises(incidents.IncidentError, match="aware_at: give a time zone"):
            incidents.open_incident(session, officer(), title="t", description="", aware_at=datetime(2026, 1, 1))


def test_the_register_is_append_only_in_the_database(store: Store) -> None:
    with store.transaction() as session:
        incident = incidents.open_incident(session, officer(), title="t", description="", aware_at=datetime.now(UTC))
    for statement in ("DELETE FROM incident_event", f"UPDATE incident SET title = 'x' WHERE id = '{incident.id}'"):
        with store.session() as session, pytest.raises(Exception, match="append-only"):
            session.execute(text(statement))
    with store.session() as session:
        assert len(session.execute(select(IncidentEvent)).all()) == 1


def test_incident_commands(cli_env: Settings) -> None:
    opened = runner.invoke(app, ["incident", "open", "--title", "Laptop stolen", "--aware-at",
                                 "2026-11-29T08:00:00+00:00"])  # fmt: skip
    assert opened.exit_code == 0, opened.output
    incident_id = opened.stdout.strip().splitlines()[-1]
    assert "2026-12-02 08:00" in opened.output  # 72 hours after awareness
    assert runner.invoke(app, ["incident", "notify", incident_id, "--jurisdiction", "EU"]).exit_code == 0
    assert runner.invoke(app, ["incident", "close", incident_id, "--summary", "disk encrypted"]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["incident", "show", incident_id, "--json"]).stdout)
    assert (shown["status"], shown["notified"]) == ("closed", ["EU"])
    again = runner.invoke(app, ["incident", "note", incident_id, "--note", "late"])
    assert again.exit_code == 1 and "append-only" in again.output


# -- staff accounts -------------------------------------------------------------------------------------------------
def test_staff_create_prints_the_totp_secret_once_and_sign_in_checks_it(cli_env: Settings, store: Store) -> None:
    created = runner.invoke(app, ["staff", "create", "--email", "Officer@Shop.test", "--role", "compliance_officer"],
                            input="a long passphrase\na long passphrase\n")  # fmt: skip
    assert created.exit_code == 0, created.output
    secret = created.stdout.split("totp secret: ")[1].split()[0]
    uri = created.stdout.split("otpauth uri: ")[1].split()[0]
    assert pyotp.parse_uri(uri).secret == secret and "officer%40shop.test" in uri
    with store.session() as session:
        account = session.execute(select(StaffAccount)).scalar_one()
        assert account.password_hash.startswith("$argon2id$") and "a long passphrase" not in account.password_hash
    code = pyotp.TOTP(secret).now()
    with store.transaction() as session:
        assert check_credentials(session, "officer@shop.test", "a long passphrase", code).role == "compliance_officer"
    with store.transaction() as session, pytest.raises(SignInFailed):
        check_credentials(session, "officer@shop.test", "a long passphrase", code)  # the same code twice
    duplicate = runner.invoke(app, ["staff", "create", "--email", "officer@shop.test", "--role", "admin"],
                              input="another passphrase\nanother passphrase\n")  # fmt: skip
    assert duplicate.exit_code == 1 and "exists" in duplicate.output
