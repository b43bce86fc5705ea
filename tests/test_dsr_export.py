"""Access and portability exports: every stored value of the subject, nothing of anyone else."""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

import consent
from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.dsr import export, service
from cdp.dsr.common import DsrError
from cdp.dsr.models import DsrRequest
from cdp.events.models import Event
from cdp.identity.groups import load_group
from cdp.store import Store
from policies.errors import AccessDenied
from tests import dsr_helpers as doors
from tests import reads
from tests.dsr_helpers import OFFICER, verified_request
from tests.factories import event, ingest_all, order

# The subject and a near-duplicate: same name, same city, similar email, a phone one digit apart.
SUBJECT = {"email": "maria.silva@example.com.br", "phone": "+55 11 91234-5678"}
TWIN = {"email": "maria.silva@example.br", "phone": "+55 11 91234-5679"}


def _person(store: Store, ids: dict[str, str], street: str, ticket: str) -> str:
    traits = {"full_name": "Maria Silva", "city": "São Paulo", "address_line1": street}
    [first] = ingest_all(store, event({"email": ids["email"]}, country="BR", traits=traits))
    ingest_all(
        store,
        event({"phone": ids["phone"], "email": ids["email"]}, country="BR", source="amazon"),
        event({"email": ids["email"]}, country="BR", type="ticket", properties={"text": ticket}),
        order({"phone": ids["phone"]}, country="BR", currency="BRL", total="250.00"),
    )
    with store.session() as s:
        consent.record(s, profile_id=first.profile_id, purpose="marketing.email", status="granted",
                       legal_basis="consent", jurisdiction="BR", source="checkout", notice_version="v3")  # fmt: skip
        consent.record(s, profile_id=first.profile_id, purpose="marketing.email", status="withdrawn",
                       legal_basis="consent", jurisdiction="BR", source="api")  # fmt: skip
        s.commit()
    return first.profile_id


def _stored_values(store: Store, root: str) -> set[str]:
    """Every personal value stored for the customer, read straight from the profile service."""
    with store.session() as s:
        members = load_group(s, root).member_ids
        values = {i.value for i in reads.identities(s, store, members[0])}
        values |= {str(t.value) for t in reads.traits(s, store, members[0]).values()}
        for e in reads.events(s, store, members[0], first=1000):
            values |= {str(v) for v in e.properties.values() if v not in ([], {})}
    return values


def _unzip(archive: IO[bytes]) -> dict[str, str]:
    with archive, zipfile.ZipFile(archive) as z:
        return {name: z.read(name).decode() for name in z.namelist()}


def test_access_export_holds_every_value_of_the_subject_and_none_of_the_twin(store: Store) -> None:
    subject = _person(store, SUBJECT, "Rua Augusta 100", "entrega atrasada pedido 1")
    twin = _person(store, TWIN, "Rua Augusta 101", "troca de tamanho pedido 2")
    archive = doors.execute(store, OFFICER, verified_request(store, "access", subject).id).archive
    files = _unzip(archive)
    assert set(files) >= {"data.json", "schema.json", "identities.csv", "traits.csv", "events.csv", "consents.csv"}
    everything = "\n".join(files.values())
    mine = _stored_values(store, subject)
    assert len(mine) >= 8
    assert [v for v in mine if v not in everything] == []
    theirs = _stored_values(store, twin) - mine
    assert theirs and [v for v in theirs if v in everything] == []

    data = json.loads(files["data.json"])
    with store.session() as s:
        members = load_group(s, subject).member_ids
    assert {row["profile_id"] for table in ("identities", "traits", "events") for row in data[table]} <= set(members)
    assert [c["status"] for c in data["consents"]] == ["granted", "withdrawn"]
    assert data["consents"][0]["notice_version"] == "v3"
    info = data["article_15"]
    assert {"purposes", "categories", "recipients", "retention", "sources"} <= set(info)
    assert "user.content.support" in info["categories"] and "2 years" in info["retention"]["user.content.support"]
    assert set(info["sources"]) == {"shopify", "amazon"}
    assert len(list(csv.DictReader(io.StringIO(files["events.csv"])))) == len(data["events"]) == 4
    schema = json.loads(files["schema.json"])
    assert set(schema["required"]) <= set(data)


def test_portability_keeps_provided_and_observed_data_only(store: Store) -> None:
    subject = _person(store, SUBJECT, "Rua Augusta 100", "entrega atrasada")
    archive = doors.execute(store, OFFICER, verified_request(store, "portability", subject).id).archive
    data = json.loads(_unzip(archive)["data.json"])
    assert data["kind"] == "portability"
    assert "article_15" not in data and "merges" not in data
    assert {i["kind"] for i in data["identities"]} == {"email", "phone"}


def test_data_subject_token_exports_only_its_own_profile(store: Store) -> None:
    subject = _person(store, SUBJECT, "Rua Augusta 100", "a")
    twin = _person(store, TWIN, "Rua Augusta 101", "b")
    request = verified_request(store, "access", twin)
    own = AccessContext.for_principal(Principal("k1", "subject", "data_subject", subject), "data_subject_rights")
    with pytest.raises(AccessDenied):
        doors.execute(store, own, request.id)
    with pytest.raises(PermissionError):
        doors.execute(store, AccessContext.operator("marketing"), request.id)


def test_request_for_an_unknown_identifier_cannot_be_executed(store: Store) -> None:
    nobody = service.SubjectIdentifier("email", "nobody@example.com")
    request = doors.create_request(store, OFFICER, kind="access", source="cli", identifiers=[nobody])
    assert request.profile_id is None and request.status == "received"
    doors.mark_verified(store, OFFICER, request.id, "officer")
    with pytest.raises(DsrError, match="no profile"):
        doors.execute(store, OFFICER, request.id)


EVENT_COLUMNS = ["id", "profile_id", "source", "source_event_id", "type", "occurred_at", "utc_offset_minutes",
                 "amount_minor", "currency", "category", "properties"]  # fmt: skip
MIXED = {"tags": ["a", 2, 2.5, True, None], "nested": {"ü": "✓ Straße", "empty": {}, "none": []}}


def _merged_customer_with_200_events(store: Store) -> tuple[str, list[tuple[str, str]]]:
    """Two profiles merged into one customer: 120 page views (three at each instant, local time +02:00) and 79
    orders in between, then the event that links them. Returns the root and every (UTC time, source event id)."""
    expected = []
    views = []
    for n in range(120):
        minute = (n // 3) * 2
        views.append(event({"email": "ana@example.pt"}, type="page_view", country="PT", source_event_id=f"pv-{n}",
                           occurred_at=f"2026-03-01T{10 + minute // 60:02d}:{minute % 60:02d}:00+02:00",
                           properties={"url": f"/p/{n}", **MIXED}))  # fmt: skip
        expected.append((f"2026-03-01T{8 + minute // 60:02d}:{minute % 60:02d}:00+00:00", f"pv-{n}"))
    orders = []
    for n in range(79):
        minute = 1 + n * 2
        at = f"2026-03-01T{8 + minute // 60:02d}:{minute % 60:02d}:00+00:00"
        orders.append(order({"phone": "+351 912 345 678"}, total=f"{n}.50", country="PT", source="amazon",
                            source_event_id=f"o-{n}", occurred_at=at))  # fmt: skip
        expected.append((at, f"o-{n}"))
    [first, *_] = ingest_all(store, *views)
    ingest_all(store, *orders)
    [link] = ingest_all(store, event({"email": "ana@example.pt", "phone": "+351912345678"}, country="PT",
                                     source_event_id="link", occurred_at="2026-03-02T09:00:00+00:00"))  # fmt: skip
    assert link.merged_profile_ids  # the orders' profile joined the page views' one
    expected.append(("2026-03-02T09:00:00+00:00", "link"))
    return first.profile_id, sorted(expected)


def test_export_reads_events_a_page_at_a_time_and_writes_them_all_in_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, expected = _merged_customer_with_200_events(store)
    monkeypatch.setattr(export, "SPOOL_BYTES", 4096)  # the archive and the CSVs go to temporary files
    request = verified_request(store, "access", root)
    statements: list[str] = []
    listen = ("before_cursor_execute", lambda conn, cursor, statement, *_: statements.append(statement))
    sa_event.listen(store.engine, *listen)
    try:
        archive = store.run(lambda s: export.export_archive(s, store, OFFICER, s.get(DsrRequest, request.id),
                                                            batch_size=25))  # fmt: skip
    finally:
        sa_event.remove(store.engine, *listen)

    # each member's events are read 25 rows per SELECT, until a page comes back short
    with store.session() as s:
        per_member = dict(s.execute(select(Event.profile_id, func.count()).group_by(Event.profile_id)).all())
    assert sorted(per_member.values()) == [79, 121]
    pages = [q for q in statements if "properties_ct" in q and "FROM event" in q]
    assert len(pages) == (121 // 25 + 1) + (79 // 25 + 1)

    with archive, zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        files = {name: z.read(name).decode() for name in z.namelist()}
    assert [i.filename for i in infos] == ["data.json", "schema.json", "identities.csv", "traits.csv", "events.csv",
                                           "consents.csv", "merges.csv"]  # fmt: skip
    assert {(i.compress_type, i.external_attr >> 16) for i in infos} == {(zipfile.ZIP_DEFLATED, 0o600)}
    text = files["data.json"]
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, ensure_ascii=False)  # written in pieces, formatted as one document
    events = data["events"]
    assert sorted((e["occurred_at"], e["source_event_id"]) for e in events) == expected
    for before, after in itertools.pairwise(events):
        assert (before["occurred_at"], before["id"]) < (after["occurred_at"], after["id"])
    views = {e["source_event_id"]: e for e in events if e["type"] == "page_view"}
    orders = {e["source_event_id"]: e for e in events if e["type"] == "order"}
    assert len(views) == 120 and len(orders) == 79
    assert views["pv-7"]["properties"] == {"url": "/p/7", **MIXED}
    assert (views["pv-7"]["category"], views["pv-7"]["utc_offset_minutes"], views["pv-7"]["source"]) == (
        "user.behavior.browsing", 120, "shopify")  # fmt: skip
    assert orders["o-12"]["properties"]["total"] == "12.50"
    assert (orders["o-12"]["amount_minor"], orders["o-12"]["currency"], orders["o-12"]["category"]) == (
        1250, "EUR", "user.behavior.purchase")  # fmt: skip
    assert data["article_15"]["sources"] == ["amazon", "shopify"]

    rows = list(csv.reader(io.StringIO(files["events.csv"])))
    assert rows[0] == EVENT_COLUMNS
    assert rows[1:] == [
        [json.dumps(e[c], ensure_ascii=False) if isinstance(e[c], dict) else "" if e[c] is None else str(e[c])
         for c in EVENT_COLUMNS]
        for e in events
    ]  # fmt: skip
    assert files["consents.csv"] == "\r\n"  # no rows: no columns either


def test_members_past_the_zip64_limit_make_an_archive_other_readers_open(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A member's size is not known when the export starts writing it; zipfile refuses to close a member that
    grew past ZIP64_LIMIT (2 GiB) unless it was opened with ZIP64 headers. With the limit lowered to 1 KiB,
    data.json and events.csv pass it: the export still completes, and the archive is valid for Python's
    zipfile and for Info-ZIP's unzip."""
    root, expected = _merged_customer_with_200_events(store)
    request = verified_request(store, "access", root)
    with monkeypatch.context() as patched:
        patched.setattr(zipfile, "ZIP64_LIMIT", 1 << 10)
        outcome = doors.execute(store, OFFICER, request.id)
    assert outcome.archive is not None
    path = tmp_path / "export.zip"
    with outcome.archive as archive:
        path.write_bytes(archive.read())
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None  # every member's CRC checks
        big = [i for i in z.infolist() if i.file_size > 1 << 10]
        data = json.loads(z.read("data.json"))
    assert {i.filename for i in big} >= {"data.json", "events.csv"}
    assert sorted((e["occurred_at"], e["source_event_id"]) for e in data["events"]) == expected
    # the local header of a member written with ZIP64 headers carries the ZIP64 extra field (header id 1)
    raw = path.read_bytes()
    for info in big:
        name_length, extra_length = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
        extra = raw[info.header_offset + 30 + name_length :][:extra_length]
        assert struct.unpack("<H", extra[:2]) == (1,), info.filename
    unzip = shutil.which("unzip")
    if unzip is None:
        pytest.skip("Info-ZIP unzip is not installed")
    checked = subprocess.run([unzip, "-t", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No errors detected" in checked.stdout
