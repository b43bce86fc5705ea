"""Access (GDPR Art. 15) and portability (Art. 20) exports: everything held about the subject's merge group,
decrypted, as one zip archive: data.json (described by schema.json, also in the archive) and one CSV file
per table. Portability keeps only what the subject provided or what was observed about them (identities,
traits, events, consents); the access export adds merge links and the Art. 15 information.

The archive is written while it is read, so memory does not grow with the subject's history: events come
`batch_size` rows per SELECT, and each batch is decrypted and written to data.json and to events.csv before
the next is read. The zip goes to a spooled temporary file (memory up to SPOOL_BYTES, then an unnamed file on
disk), which the door hands out only after the transaction holding the export's audit entry has committed.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime
from json.encoder import encode_basestring
from typing import IO, Any

from sqlalchemy import select, tuple_
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
EVENT_BATCH = 1_000  # events per SELECT: what the export holds in memory at once
# zlib's level 3 rather than its default 6: a 50,000-event archive about 12% larger, deflated in less than half
# the CPU time (bench/export.py prints both)
COMPRESS_LEVEL = 3
WRITE_ROWS = 250  # rows joined into one write to data.json and to a CSV
SPOOL_BYTES = 1 << 20  # the archive and each CSV stay in memory up to this size, then go to an unnamed temp file
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


def export_archive(
    session: Session, store: Store, access: AccessContext, request: DsrRequest, *, batch_size: int = EVENT_BATCH
) -> IO[bytes]:
    """The archive answering an access or portability request, audited with what it holds. A file positioned at
    its start: the door hands it out once the transaction has committed (no audit entry, no data), then closes
    it."""
    group = subject_group(session, access, request)
    archive = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the door closes it
    try:
        categories, counts = _write_archive(
            archive, session, store, access, group, portability=request.kind == "portability", batch_size=batch_size
        )
        audit_dsr(session, access, request.id, request.kind, subject_ids=group.member_ids, categories=categories,
                  document={"tables": counts})  # fmt: skip
    except BaseException:
        archive.close()
        raise
    archive.seek(0)
    return archive


def _write_archive(
    out: IO[bytes], session: Session, store: Store, access: AccessContext, group: ProfileGroup, *,
    portability: bool, batch_size: int,
) -> tuple[list[str], dict[str, int]]:  # fmt: skip
    """data.json, schema.json and one CSV per table, after the gate allowed `export` of every category held.
    Returns those categories and the rows written per portable table."""
    members = group.member_ids
    categories = held_categories(session, members)
    for category in categories:
        access.require(category, action="export")
    store.keystore.prefetch(members)  # the data keys of identities, traits and computed traits: one query
    identities, traits = profiles.holdings(session, store, access, group, action="export")
    sources = {i.source for i in identities} | {t.source for t in traits}
    tables: dict[str, Iterable[_Row]] = {
        "identities": _rendered(
            {"id": i.id, "profile_id": i.profile_id, "kind": i.kind, "value": i.value,
             "category": identifier_category(i.kind), "source": i.source, "created_at": _iso(i.created_at)}
            for i in identities
        ),
        "traits": _rendered(
            {"profile_id": t.profile_id, "name": t.name, "value": t.value, "category": t.category,
             "source": t.source, "updated_at": _iso(t.updated_at)}
            for t in traits
        ),
        "events": _events(session, store, members, batch_size, sources),
        "consents": _rendered(
            {"profile_id": c.profile_id, "purpose": c.purpose, "status": c.status, "legal_basis": c.legal_basis,
             "jurisdiction": c.jurisdiction, "source": c.source, "notice_version": c.notice_version,
             "recorded_at": _iso(c.recorded_at)}
            for c in consent.history(session, members)
        ),
    }  # fmt: skip
    if not portability:
        tables["merges"] = _rendered(
            {"survivor_id": m.survivor_id, "absorbed_id": m.absorbed_id, "identifier_kind": m.identifier_kind,
             "merged_at": _iso(m.merged_at), "unmerged_at": m.unmerged_at and _iso(m.unmerged_at)}
            for m in merge_links(session, members)
        )  # fmt: skip
    root = group.root
    counts: dict[str, int] = {}
    zipped = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
    with zipped as archive, ExitStack() as spills:
        csvs = {name: _CsvSpill(spills.enter_context(_spooled_text())) for name in tables}
        with _text_member(archive, "data.json") as text:
            doc = _JsonDocument(text)
            doc.field("format_version", FORMAT_VERSION)
            doc.field("kind", "portability" if portability else "access")
            doc.field("generated_at", datetime.now().astimezone().isoformat())
            doc.field("subject", {"profile_id": root.id, "member_ids": members, "jurisdiction": root.jurisdiction,
                                  "status": root.status, "created_at": root.created_at})  # fmt: skip
            for name, rows in tables.items():
                counts[name] = doc.rows(name, csvs[name].tee(rows))
            if not portability:
                doc.field("computed_traits", export_rows(session, store, access, group))
                doc.field("article_15", _article_15(session, root.jurisdiction, categories, sources))
            doc.close()
        archive.writestr("schema.json", json.dumps(SCHEMA, indent=2))
        for name, spill in csvs.items():
            spill.copy_into(archive, f"{name}.csv")
    return categories, {table: counts[table] for table in PORTABLE_TABLES}


_EVENT_COLUMNS = [col(c) for c in (Event.id, Event.profile_id, Event.source, Event.source_event_id, Event.type,
                                   Event.occurred_at, Event.utc_offset_minutes, Event.amount_minor, Event.currency,
                                   Event.properties_ct)]  # fmt: skip
# An event's keys, in data.json and as events.csv's columns, and its data.json text (an item of the "events"
# list: four spaces in, its keys six), filled in with each value's JSON text.
_EVENT_KEYS = ("id", "profile_id", "source", "source_event_id", "type", "occurred_at", "utc_offset_minutes",
               "amount_minor", "currency", "category", "properties")  # fmt: skip
_EVENT_TEXT = "{\n" + ",\n".join(f'      "{key}": %s' for key in _EVENT_KEYS) + "\n    }"

# A row as written: (its table's columns, its data.json text, its CSV fields)
_Row = tuple[Sequence[str], str, list[Any]]


def _rendered(rows: Iterable[dict[str, Any]]) -> Iterator[_Row]:
    for row in rows:
        yield list(row), _indented(row, "    "), [_csv_field(v) for v in row.values()]


def _events(
    session: Session, store: Store, members: list[str], batch_size: int, sources: set[str]
) -> Iterator[_Row]:  # fmt: skip
    """Every event of the group, decrypted, oldest first: the members' streams merged on (occurred_at, id),
    which is unique. Notes each event's source in `sources`."""
    for _, _, source, text, fields in heapq.merge(
        *(_member_events(session, store, member, batch_size) for member in members)
    ):
        sources.add(source)
        yield _EVENT_KEYS, text, fields


def _member_events(
    session: Session, store: Store, profile_id: str, batch_size: int
) -> Iterator[tuple[datetime, str, str, str, list[Any]]]:
    """One profile's events in (occurred_at, id) order as (occurred_at, id, source, data.json text, CSV fields),
    `batch_size` rows per SELECT: each page continues after the last row of the previous one along the
    (profile_id, occurred_at, id) index, so no page re-reads or sorts the rows before it. A page is decrypted at
    once (one key look-up per data key, not per row) and its properties parsed as one JSON array. The rows are
    plain result rows and each event's text is one format string, not a dict encoded key by key: this is most of
    what an export costs per event."""
    first = (
        select(*_EVENT_COLUMNS)
        .where(col(Event.profile_id) == profile_id)
        .order_by(col(Event.occurred_at), col(Event.id))
        .limit(batch_size)
    )
    connection = session.connection()  # the session's transaction, without ORM result processing
    page: Sequence[Any] = connection.execute(first).all()
    categories: dict[str, str] = {}
    while page:
        sealed = [(r.profile_id, r.id, r.properties_ct) for r in page]
        plain = store.keystore.decrypt_many("event", "properties", sealed)
        properties = json.loads("[" + ",".join(plain) + "]")  # each is one JSON value
        for (event_id, owner, source, source_event_id, kind, at, offset, amount, currency, _), values in zip(
            page, properties, strict=True
        ):
            category = categories.get(kind) or categories.setdefault(kind, event_category(kind))
            when = at.isoformat()
            text = _EVENT_TEXT % (
                encode_basestring(event_id), encode_basestring(owner), encode_basestring(source),
                _scalar(source_event_id), encode_basestring(kind), encode_basestring(when), _scalar(offset),
                _scalar(amount), _scalar(currency), encode_basestring(category), _indented(values, "      "),
            )  # fmt: skip
            fields = [event_id, owner, source, source_event_id, kind, when, offset, amount, currency, category,
                      _csv_field(values)]  # fmt: skip
            yield at, event_id, source, text, fields
        if len(page) < batch_size:
            return
        after = (page[-1].occurred_at, page[-1].id)
        page = connection.execute(first.where(tuple_(col(Event.occurred_at), col(Event.id)) > after)).all()


def _article_15(session: Session, jurisdiction: str, categories: list[str], sources: set[str]) -> dict[str, Any]:
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
        "sources": sorted(sources),
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


_PRETTY = json.JSONEncoder(indent=2, ensure_ascii=False, default=_iso).encode
_COMPACT = json.JSONEncoder(ensure_ascii=False, default=_iso).encode


def _scalar(value: str | int | None) -> str:
    """The JSON text of a column that may be null."""
    return "null" if value is None else encode_basestring(value) if type(value) is str else int.__repr__(value)


def _csv_field(value: Any) -> Any:
    return _COMPACT(value) if isinstance(value, (dict, list)) else value


def _indented(value: Any, pad: str) -> str:
    """`json.dumps(value, indent=2, ensure_ascii=False)` with `pad` before every line but the first. json's own
    indenting encoder is pure Python and was most of an export's time; this builds the dicts, lists, strings,
    integers and nulls that rows are made of directly, and hands anything else to it (JSON text never holds a
    raw newline, so padding its lines is replacing its newlines)."""
    kind = type(value)
    if kind is dict and value:
        inner = pad + "  "
        items = []
        try:
            for key, item in value.items():
                leaf = type(item)
                text = (
                    encode_basestring(item) if leaf is str
                    else "null" if item is None
                    else int.__repr__(item) if leaf is int
                    else _indented(item, inner)
                )  # fmt: skip
                items.append(encode_basestring(key) + ": " + text)
        except TypeError:  # a key that is not a string: json has rules for those
            return _PRETTY(value).replace("\n", "\n" + pad)
        return "{\n" + inner + (",\n" + inner).join(items) + "\n" + pad + "}"
    if kind is list and value:
        inner = pad + "  "
        return "[\n" + inner + (",\n" + inner).join([_indented(item, inner) for item in value]) + "\n" + pad + "]"
    if kind is str:
        return encode_basestring(value)
    return _PRETTY(value).replace("\n", "\n" + pad)


class _JsonDocument:
    """data.json written a field or a row at a time, byte for byte what json.dumps(document, indent=2,
    ensure_ascii=False) writes for the whole document."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._separator = "{\n  "

    def field(self, key: str, value: Any) -> None:
        self._key(key)
        self._out.write(_indented(value, "  "))

    def rows(self, key: str, rows: Iterable[str]) -> int:
        """A list of rows given as their text, written as they come, WRITE_ROWS at a time; returns how many
        there were."""
        self._key(key)
        count, pending = 0, []
        for text in rows:
            pending.append(text)
            if len(pending) == WRITE_ROWS:
                self._write_rows(count, pending)
                count += len(pending)
                pending.clear()
        self._write_rows(count, pending)
        count += len(pending)
        self._out.write("\n  ]" if count else "[]")
        return count

    def _write_rows(self, before: int, texts: list[str]) -> None:
        if texts:
            self._out.write(("[\n    " if before == 0 else ",\n    ") + ",\n    ".join(texts))

    def close(self) -> None:
        self._out.write("\n}")

    def _key(self, key: str) -> None:
        self._out.write(self._separator + encode_basestring(key) + ": ")
        self._separator = ",\n  "


class _CsvSpill:
    """One table's CSV, put aside while data.json is written (a zip takes one member at a time): in memory up to
    SPOOL_BYTES, then in an unnamed temporary file. Nested values are JSON text; a table without rows is one
    empty line."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self._lines = io.StringIO()  # csv writes a row per write call: rows gather here, go to the file together
        self._writer = csv.writer(self._lines)
        self._empty = True

    def tee(self, rows: Iterable[_Row]) -> Iterator[str]:
        """The rows' data.json texts, each row's CSV fields written as it passes (WRITE_ROWS at a time), after
        the first row's columns."""
        pending: list[list[Any]] = []
        for columns, text, fields in rows:
            if self._empty:
                self._writer.writerow(columns)
                self._empty = False
            pending.append(fields)
            if len(pending) == WRITE_ROWS:
                self._write(pending)
            yield text
        self._write(pending)

    def _write(self, rows: list[list[Any]]) -> None:
        self._writer.writerows(rows)
        rows.clear()
        self._file.write(self._lines.getvalue())
        self._lines.seek(0)
        self._lines.truncate()

    def copy_into(self, archive: zipfile.ZipFile, name: str) -> None:
        if self._empty:
            self._writer.writerow([])
            self._write([])
        self._file.seek(0)
        with _text_member(archive, name) as text:
            shutil.copyfileobj(self._file, text)


def _spooled_text() -> IO[str]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+", encoding="utf-8", newline="")


def _text_member(archive: zipfile.ZipFile, name: str) -> IO[str]:
    """A member written as UTF-8 text, with what `writestr` gives a member: the time now, the archive's
    compression and owner-only permissions (rw-------) when extracted. Its size is not known up front, so it is
    written with ZIP64 headers: without them zipfile refuses a member once it passes 2 GiB."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    if sys.version_info >= (3, 13):
        info.compress_level = COMPRESS_LEVEL
    else:
        info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]  # its name before 3.13
    info.external_attr = 0o600 << 16
    return io.TextIOWrapper(archive.open(info, "w", force_zip64=True), encoding="utf-8", newline="")
