"""Access (GDPR Art. 15) and portability (Art. 20) exports: everything held about the subject's merge group,
decrypted, as one zip archive: data.json (described by schema.json, also in the archive) and one CSV file
per table. Portability keeps only what the subject provided or what was observed about them (identities,
traits, events, consents); the access export adds merge links and the Art. 15 information.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

import consent
from cdp.access.gate import AccessContext, policy_gate
from cdp.categories import event_category, identifier_category
from cdp.dsr.common import audit_dsr, held_categories, subject_group
from cdp.dsr.models import DsrRequest
from cdp.events.models import Event
from cdp.identity.groups import ProfileGroup, merge_links
from cdp.outbox.models import Destination
from cdp.profiles import service as profiles
from cdp.retention.policy import retention_policy
from cdp.store import Store
from cdp.traits.service import export_rows

FORMAT_VERSION = 1
PORTABLE_TABLES = ("identities", "traits", "events", "consents")
_ROW = {"type": "array", "items": {"type": "object"}}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "cdp data-subject export (data.json)",
    "type": "object",
    "required": ["format_version", "kind", "generated_at", "subject", *PORTABLE_TABLES],
    "properties": {
        "format_version": {"const": FORMAT_VERSION},
        "kind": {"enum": ["access", "portability"]},
        "generated_at": {"type": "string", "format": "date-time"},
        "subject": {
            "type": "object",
            "description": "The customer: root profile id, every merged profile id, jurisdiction, status.",
            "properties": {
                "profile_id": {"type": "string"},
                "member_ids": {"type": "array", "items": {"type": "string"}},
                "jurisdiction": {"type": "string"},
                "status": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
        "identities": {**_ROW, "description": "id, profile_id, kind, value, category, source, created_at"},
        "traits": {**_ROW, "description": "profile_id, name, value, category, source, updated_at"},
        "events": {
            **_ROW,
            "description": "id, profile_id, source, source_event_id, type, category, occurred_at, "
            "utc_offset_minutes, amount_minor, currency, properties",
        },
        "consents": {
            **_ROW,
            "description": "Full consent history: profile_id, purpose, status, legal_basis, jurisdiction, "
            "source, notice_version, recorded_at",
        },
        "merges": {**_ROW, "description": "Access only: survivor_id, absorbed_id, identifier_kind, merged_at"},
        "computed_traits": {**_ROW, "description": "Access only: RFM scores, CLV, churn, lifecycle stage (derived)"},
        "article_15": {
            "type": "object",
            "description": "Access only: purposes, categories, recipients, retention, sources, rights",
        },
    },
}


def build_export(
    session: Session, store: Store, access: AccessContext, group: ProfileGroup, *, portability: bool
) -> dict[str, Any]:
    """The export document of one customer, after the gate allowed `export` of every category held."""
    members = group.member_ids
    categories = held_categories(session, members)
    for category in categories:
        access.require(category, action="export")
    identities, traits = profiles.holdings(session, store, access, group, action="export")
    events = _events(session, store, members)
    consents = consent.history(session, members)
    root = group.root
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": "portability" if portability else "access",
        "generated_at": datetime.now().astimezone().isoformat(),
        "subject": {
            "profile_id": root.id,
            "member_ids": members,
            "jurisdiction": root.jurisdiction,
            "status": root.status,
            "created_at": root.created_at,
        },  # fmt: skip
        "identities": [
            {
                "id": i.id,
                "profile_id": i.profile_id,
                "kind": i.kind,
                "value": i.value,
                "category": identifier_category(i.kind),
                "source": i.source,
                "created_at": i.created_at,
            }
            for i in identities
        ],  # fmt: skip
        "traits": [
            {
                "profile_id": t.profile_id,
                "name": t.name,
                "value": t.value,
                "category": t.category,
                "source": t.source,
                "updated_at": t.updated_at,
            }
            for t in traits
        ],  # fmt: skip
        "events": events,
        "consents": [
            {
                "profile_id": c.profile_id,
                "purpose": c.purpose,
                "status": c.status,
                "legal_basis": c.legal_basis,
                "jurisdiction": c.jurisdiction,
                "source": c.source,
                "notice_version": c.notice_version,
                "recorded_at": c.recorded_at,
            }
            for c in consents
        ],  # fmt: skip
    }
    if not portability:
        data["merges"] = [
            {"survivor_id": m.survivor_id, "absorbed_id": m.absorbed_id, "identifier_kind": m.identifier_kind,
             "merged_at": m.merged_at, "unmerged_at": m.unmerged_at}
            for m in merge_links(session, members)
        ]  # fmt: skip
        data["computed_traits"] = export_rows(session, store, access, group)
        data["article_15"] = _article_15(session, root.jurisdiction, categories, identities, traits, events)
    return json.loads(json.dumps(data, default=_iso, ensure_ascii=False))


def _events(session: Session, store: Store, members: list[str]) -> list[dict[str, Any]]:
    columns = [col(c) for c in (Event.id, Event.profile_id, Event.source, Event.source_event_id, Event.type,
                                Event.occurred_at, Event.utc_offset_minutes, Event.amount_minor, Event.currency,
                                Event.properties_ct)]  # fmt: skip
    rows = session.execute(
        select(*columns).where(col(Event.profile_id).in_(members)).order_by(col(Event.occurred_at), col(Event.id))
    ).mappings()
    return [
        {**{k: v for k, v in r.items() if k != "properties_ct"}, "category": event_category(r["type"]),
         "properties": json.loads(store.keystore.decrypt(r["profile_id"], "event", "properties", r["id"],
                                                         r["properties_ct"]))}
        for r in rows
    ]  # fmt: skip


def _article_15(
    session: Session, jurisdiction: str, categories: list[str], identities: list, traits: list, events: list[dict]
) -> dict[str, Any]:
    gate = policy_gate()
    purposes = []
    for name in sorted(gate.purposes.names()):
        purpose = gate.purposes.get(name)
        purposes.append(
            {"purpose": name, "description": purpose.description,
             "legal_basis": purpose.legal_basis.get(jurisdiction, "see the purpose's jurisdictions"),
             "consent": purpose.consent.get(jurisdiction, "opt_in")}
        )  # fmt: skip
    rules = retention_policy().rules
    destinations = session.execute(select(col(Destination.name)).where(col(Destination.active).is_(True))).scalars()
    return {
        "purposes": purposes,
        "categories": categories,
        "recipients": {
            "downstream_systems": sorted(destinations),
            "internal_roles": sorted(gate.roles - {"data_subject"}),
        },
        "retention": {c: rules[c].describe() if c in rules else "kept until erasure is requested" for c in categories},
        "sources": sorted({i.source for i in identities} | {t.source for t in traits} | {e["source"] for e in events}),
        "automated_decision_making": "none with legal or similarly significant effects",
        "rights": [
            "access",
            "portability",
            "rectification",
            "erasure",
            "restriction",
            "objection",
            "complaint to a supervisory authority",
        ],  # fmt: skip
    }


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def to_archive(data: dict[str, Any]) -> bytes:
    """data.json, schema.json and one CSV per table, in one zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, indent=2, ensure_ascii=False))
        archive.writestr("schema.json", json.dumps(SCHEMA, indent=2))
        for table in (*PORTABLE_TABLES, "merges"):
            if table in data:
                archive.writestr(f"{table}.csv", _csv(data[table]))
    return buffer.getvalue()


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                         for k, v in row.items()})  # fmt: skip
    return out.getvalue()


def export_archive(session: Session, store: Store, access: AccessContext, request: DsrRequest) -> bytes:
    """The archive answering an access or portability request; audited with what it contains."""
    group = subject_group(session, access, request)
    data = build_export(session, store, access, group, portability=request.kind == "portability")
    audit_dsr(session, access, request.id, request.kind, subject_ids=group.member_ids,
              categories=held_categories(session, group.member_ids),
              document={"tables": {t: len(data[t]) for t in PORTABLE_TABLES}})  # fmt: skip
    return to_archive(data)
