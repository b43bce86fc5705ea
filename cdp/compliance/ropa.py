"""The record of processing activities (GDPR Art. 30(1)), generated from the policy files rather than kept by
hand beside them: purposes and legal bases (purposes.yaml), who may read which categories for each purpose
(policy.csv through the gate), the categories themselves (fields.yaml), how long they are kept
(retention.yaml), where the data lives and how it gets there (ropa.yaml), and the downstream systems told
about erasures (the outbox's destinations). It describes processing, not people: no personal data in it.

Three renderings: JSON (the full record), CSV (one row per purpose and jurisdiction, for spreadsheets) and
YAML with fideslang's `system` and `dataset` resource keys (fides_key, privacy_declarations, data_use,
data_categories, data_subjects, collections, fields), so fides tooling can read it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlmodel import Session, col

import policies
from cdp.dictionary import dictionary
from cdp.outbox.models import Destination
from cdp.retention.policy import retention_policy
from policies.gate import PolicyGate

ROPA_CONFIG = Path(policies.__file__).resolve().parent / "ropa.yaml"
# Roles that oversee rather than pursue purposes: their wildcard grants (audits, data-subject requests) would
# otherwise list every category under every purpose. They appear as recipients, not as what a purpose uses.
OVERSIGHT_ROLES = frozenset({"admin", "compliance_officer", "data_subject"})
# fideslang's LegalBasisForProcessingEnum (GDPR Art. 6(1)) for the bases purposes.yaml uses.
FIDES_LEGAL_BASIS = {
    "consent": "Consent",
    "contract": "Contract",
    "legal_obligation": "Legal obligations",
    "vital_interests": "Vital interests",
    "public_task": "Public interest",
    "legitimate_interests": "Legitimate interests",
}
FORMATS = ("csv", "json", "yaml")


@dataclass(frozen=True)
class Basis:
    jurisdiction: str
    legal_basis: str
    consent: str  # none | opt_in | opt_out
    transfer: bool
    transfer_mechanism: str


@dataclass(frozen=True)
class Activity:
    purpose: str
    description: str
    sale_or_sharing: bool
    categories: list[str]
    recipients: list[str]  # roles granted a read for this purpose
    retention: dict[str, str]  # category -> period (only categories retention.yaml limits)
    bases: list[Basis]


@dataclass(frozen=True)
class Ropa:
    generated_on: date
    policy_version: str
    controller: dict[str, str]
    data_protection_officer: dict[str, str]
    storage: dict[str, str]
    security: str
    destinations: list[str]
    activities: list[Activity]


def destination_names(session: Session) -> list[str]:
    """Downstream systems told about erasures: recipients of (ids of) customers' data."""
    return list(session.execute(select(col(Destination.name)).where(col(Destination.active).is_(True))).scalars())


def _config() -> dict[str, Any]:
    return yaml.safe_load(ROPA_CONFIG.read_text(encoding="utf-8"))


def build(gate: PolicyGate, destinations: list[str], today: date) -> Ropa:
    config = _config()
    personal = sorted(c for c in dictionary().all_categories() if not c.startswith("system."))
    rules = retention_policy().rules
    purposes = gate.purposes
    activities = []
    for name in sorted(purposes.names()):
        spec = purposes.get(name)
        readers = {role: gate.grants(role, name) for role in sorted(gate.roles)}
        recipients = [role for role, g in readers.items() if role != "data_subject" and _reads_any(g, personal)]
        operational = [g for role, g in readers.items() if role not in OVERSIGHT_ROLES]
        used = [c for c in personal if any(g.allows("read", c) for g in operational)]
        categories = used or [c for c in personal if any(g.allows("read", c) for g in readers.values())]
        bases = [
            Basis(
                jurisdiction,
                spec.legal_basis[jurisdiction],
                spec.consent[jurisdiction],
                bool(config["transfers"][jurisdiction]["transfer"]),
                config["transfers"][jurisdiction]["mechanism"],
            )
            for jurisdiction in purposes.jurisdictions
        ]
        retention = {c: rules[c].describe() for c in categories if c in rules}
        activities.append(
            Activity(name, spec.description, spec.sale_or_sharing, categories, recipients, retention, bases)
        )
    return Ropa(
        generated_on=today,
        policy_version=gate.version,
        controller=config["controller"],
        data_protection_officer=config["data_protection_officer"],
        storage=config["storage"],
        security=config["security"],
        destinations=sorted(destinations),
        activities=activities,
    )


def _reads_any(grants: Any, categories: list[str]) -> bool:
    return any(grants.allows("read", c) for c in categories)


def to_json(ropa: Ropa) -> str:
    return json.dumps(asdict(ropa), indent=2, default=str, ensure_ascii=False) + "\n"


CSV_COLUMNS = (
    "purpose", "description", "jurisdiction", "legal_basis", "consent", "sale_or_sharing", "categories",
    "recipients", "retention", "transfer", "transfer_mechanism", "storage_region",
)  # fmt: skip


def to_csv(ropa: Ropa) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for activity in ropa.activities:
        for basis in activity.bases:
            writer.writerow([
                activity.purpose, activity.description, basis.jurisdiction, basis.legal_basis, basis.consent,
                "yes" if activity.sale_or_sharing else "no", "; ".join(activity.categories),
                "; ".join(activity.recipients), "; ".join(f"{c}: {p}" for c, p in activity.retention.items()),
                "yes" if basis.transfer else "no", basis.transfer_mechanism, ropa.storage["region"],
            ])  # fmt: skip
    return out.getvalue()


def to_fideslang(ropa: Ropa) -> dict[str, Any]:
    """fideslang resources: one `system` (cdp) with a privacy declaration per purpose, and the `dataset` of
    what it stores, each field with its data category."""
    declarations = []
    for activity in ropa.activities:
        basis = next((b for b in activity.bases if b.jurisdiction == "EU"), activity.bases[0])
        declaration: dict[str, Any] = {
            "name": activity.purpose,
            "data_use": activity.purpose,
            "data_categories": activity.categories,
            "data_subjects": ["customer"],
            "dataset_references": ["cdp_customer_data"],
            "data_shared_with_third_parties": activity.sale_or_sharing,
        }
        if basis.legal_basis in FIDES_LEGAL_BASIS:
            declaration["legal_basis_for_processing"] = FIDES_LEGAL_BASIS[basis.legal_basis]
        if activity.retention:
            declaration["retention_period"] = "; ".join(f"{c}: {p}" for c, p in activity.retention.items())
        declarations.append(declaration)
    transfers = sorted({b.transfer_mechanism for a in ropa.activities for b in a.bases if b.transfer})
    system = {
        "fides_key": "cdp",
        "name": "cdp customer data platform",
        "description": f"Record of processing generated on {ropa.generated_on} from policy {ropa.policy_version}",
        "system_type": "Service",
        "administrating_department": "compliance",
        "privacy_declarations": declarations,
        "dataset_references": ["cdp_customer_data"],
        "does_international_transfers": bool(transfers),
        "legal_basis_for_transfers": transfers,
        "dpo": ropa.data_protection_officer.get("contact"),
        "data_security_practices": ropa.security,
    }
    if ropa.destinations:
        system["egress"] = [{"fides_key": _key(d), "type": "system"} for d in ropa.destinations]
    return {"system": [system], "dataset": [_dataset()]}


def _key(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)


def _dataset() -> dict[str, Any]:
    fields = dictionary()

    def collection(name: str, description: str, specs: dict) -> dict[str, Any]:
        return {
            "name": name,
            "description": description,
            "fields": [{"name": key, "data_categories": [spec.category]} for key, spec in sorted(specs.items())],
        }

    return {
        "fides_key": "cdp_customer_data",
        "name": "cdp customer data",
        "description": "Every personal field cdp stores, encrypted per field (policies/fields.yaml).",
        "collections": [
            collection("identity", "Identifiers used for identity resolution (blind-indexed).", fields.identifiers),
            collection("trait", "Declared profile attributes.", fields.traits),
            collection("event", "Event properties, one encrypted JSON value per event.", fields.events),
        ],
    }


def to_yaml(ropa: Ropa) -> str:
    return yaml.safe_dump(to_fideslang(ropa), sort_keys=False, allow_unicode=True)


def render(ropa: Ropa, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format: one of {', '.join(FORMATS)}")
    return {"json": to_json, "csv": to_csv, "yaml": to_yaml}[fmt](ropa)
