"""The privacy centre over HTTP (the real ASGI app, a real SMTP server for the code): request -> code ->
export -> erasure, consent with its notice recorded as proof, Sec-GPC, languages and deadlines, CSRF, the
token kept out of URLs, and a subject confined to their own requests."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterator

import pytest
import yaml
from sqlalchemy import select
from starlette.testclient import TestClient

from cdp.api.app import create_app
from cdp.dsr.models import DsrRequest, DsrVerification
from cdp.dsr.settings import DsrSettings
from cdp.store import Store
from cdp.web.i18n import LANGUAGES, MESSAGES_DIR, negotiate
from consent.models import ConsentRecord
from tests import reads
from tests.dsr_helpers import Inbox
from tests.factories import event, ingest_all
from tests.web_helpers import csrf


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store), follow_redirects=False) as http:
        yield http


def start(client: TestClient, kind: str, email: str, country: str = "DE") -> None:
    token = csrf(client.get("/privacy/").text)
    response = client.post("/privacy/start", data={"csrf": token, "kind": kind, "email": email, "country": country})
    assert response.status_code == 303 and response.headers["location"] == "/privacy/verify", response.text


def verify(client: TestClient, code: str) -> str:
    token = csrf(client.get("/privacy/verify").text)
    response = client.post("/privacy/verify", data={"csrf": token, "code": code})
    assert response.status_code == 303, response.text
    return client.get(response.headers["location"]).text


def request_id(html: str, kind_label: str) -> str:
    section = html.split(kind_label, 1)[0].rsplit('data-request="', 1)[1]
    return section.split('"', 1)[0]


def test_request_code_export_then_erasure(store: Store, client: TestClient, smtp: tuple[Inbox, DsrSettings]) -> None:
    inbox, _ = smtp
    ingest_all(store, event({"email": "mia@example.de"}, traits={"first_name": "Mia", "city": "Köln"}))
    start(client, "access", "MIA@example.de")
    me = verify(client, inbox.code())
    assert "Get a copy of my data" in me and "verified" in me
    access_id = request_id(me, "Get a copy of my data")
    download = client.post(f"/privacy/requests/{access_id}/run", data={"csrf": csrf(me)})
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["content-disposition"] == f'attachment; filename="my-data-{access_id}.zip"'
    assert download.headers["cache-control"] == "no-store"
    assert int(download.headers["content-length"]) == len(download.content)
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert any("Köln" in archive.read(name).decode("utf-8", "replace") for name in archive.namelist())

    start(client, "erasure", "mia@example.de")
    me = verify(client, inbox.code())
    erasure_id = request_id(me, "Erase my data")
    erased = client.post(f"/privacy/requests/{erasure_id}/run", data={"csrf": csrf(me)})
    assert erased.status_code == 200 and "Your data was erased" in erased.text and erasure_id in erased.text
    with store.session() as session:
        assert session.get(DsrRequest, erasure_id).status == "completed"
    assert client.get("/privacy/me").headers["location"] == "/privacy/"  # nothing left to sign in to


def test_the_token_lives_only_in_the_signed_httponly_cookie(
    store: Store, client: TestClient, smtp: tuple[Inbox, DsrSettings]
) -> None:
    inbox, _ = smtp
    ingest_all(store, event({"email": "tok@example.de"}))
    start(client, "access", "tok@example.de")
    token = csrf(client.get("/privacy/verify").text)
    response = client.post("/privacy/verify", data={"csrf": token, "code": inbox.code()})
    assert "cdp_" not in response.headers["location"]
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/privacy" in cookie
    tampered = client.cookies.get("cdp_privacy")[:-3] + "AAA"
    client.cookies.set("cdp_privacy", tampered, domain="testserver.local", path="/privacy")
    assert client.get("/privacy/me").headers["location"] == "/privacy/"  # a forged cookie is no session


def test_unknown_address_gets_the_same_answer_and_no_email(
    store: Store, client: TestClient, smtp: tuple[Inbox, DsrSettings]
) -> None:
    inbox, _ = smtp
    start(client, "access", "nobody@example.de")
    assert "Check your email" in client.get("/privacy/verify").text
    assert inbox.messages == []


def test_wrong_code_is_refused_and_counted(store: Store, client: TestClient, smtp: tuple[Inbox, DsrSettings]) -> None:
    ingest_all(store, event({"email": "typo@example.de"}))
    start(client, "access", "typo@example.de")
    token = csrf(client.get("/privacy/verify").text)
    refused = client.post("/privacy/verify", data={"csrf": token, "code": "00000000"})
    assert refused.status_code == 400 and "wrong code" in refused.text
    with store.session() as session:
        assert session.execute(select(DsrVerification.attempts)).scalar_one() == 1


def test_forms_need_the_csrf_token(store: Store, client: TestClient, smtp: tuple[Inbox, DsrSettings]) -> None:
    inbox, _ = smtp
    ingest_all(store, event({"email": "csrf@example.de"}))
    refused = client.post("/privacy/start", data={"kind": "access", "email": "csrf@example.de", "country": "DE"})
    assert refused.status_code == 400 and "expired" in refused.text
    assert inbox.messages == []
    with store.session() as session:
        assert session.execute(select(DsrRequest)).first() is None


def test_deadline_and_language_follow_the_customer(client: TestClient, smtp: tuple[Inbox, DsrSettings]) -> None:
    client.headers["accept-language"] = "pt-BR,pt;q=0.9,en;q=0.5"
    assert "Central de privacidade" in client.get("/privacy/").text
    start(client, "access", "ana@example.br", country="BR")
    page = client.get("/privacy/verify").text
    assert "LGPD Art. 19(II)" in page and "Responderemos até" in page
    assert "Datenschutz-Center" in client.get("/privacy/?lang=de").text
    assert "Datenschutz-Center" in client.get("/privacy/").text  # the choice is remembered


def test_every_catalog_translates_every_message() -> None:
    english = set(yaml.safe_load((MESSAGES_DIR / "en.yaml").read_text(encoding="utf-8")))
    for lang in LANGUAGES:
        messages = yaml.safe_load((MESSAGES_DIR / f"{lang}.yaml").read_text(encoding="utf-8"))
        assert set(messages) == english, lang
        placeholders = {k: set(re.findall(r"{(\w+)}", str(v))) for k, v in messages.items()}
        english_placeholders = {
            k: set(re.findall(r"{(\w+)}", str(v)))
            for k, v in yaml.safe_load((MESSAGES_DIR / "en.yaml").read_text(encoding="utf-8")).items()
        }
        assert placeholders == english_placeholders, lang


@pytest.mark.parametrize(
    ("header", "expected"),
    [("ja,en;q=0.8", "ja"), ("en;q=0.2, zh-CN;q=0.9", "zh"), ("it-IT", "en"), ("", "en"), ("fr;q=0, es", "es")],
)
def test_accept_language_negotiation(header: str, expected: str) -> None:
    assert negotiate(header) == expected


def test_consent_change_records_the_notice_and_gpc_is_honoured(
    store: Store, client: TestClient, smtp: tuple[Inbox, DsrSettings]
) -> None:
    inbox, _ = smtp
    [me] = ingest_all(store, event({"email": "cons@example.de"}))
    start(client, "access", "cons@example.de")
    page = verify(client, inbox.code())
    assert "Marketing emails" in page and "Not allowed" in page  # EU: opt-in, nothing granted yet
    client.post("/privacy/consent", data={"csrf": csrf(page), "purpose": "marketing.email", "status": "granted"})
    page = client.get("/privacy/me", headers={"sec-gpc": "1"}).text
    assert "Global Privacy Control" in page
    with store.session() as session:
        records = list(session.execute(select(ConsentRecord).order_by(ConsentRecord.seq)).scalars())
    granted = [r for r in records if r.purpose == "marketing.email"]
    assert [(r.status, r.source, r.notice_version) for r in granted] == [
        ("granted", "data_subject", "privacy-centre-1/en")
    ]
    shown = (
        "Marketing emails: Newsletters, offers, abandoned-cart and birthday emails. "
        "You can change these choices at any time; a withdrawal takes effect immediately."
    )
    assert granted[0].notice_text_hash == hashlib.sha256(shown.encode()).hexdigest()
    assert granted[0].profile_id == me.profile_id
    assert {r.source for r in records if r.purpose != "marketing.email"} == {"gpc"}


def test_a_subject_cannot_run_someone_elses_request(
    store: Store, client: TestClient, smtp: tuple[Inbox, DsrSettings]
) -> None:
    inbox, _ = smtp
    ingest_all(store, event({"email": "a@example.de"}), event({"email": "b@example.de"}))
    with TestClient(create_app(store), follow_redirects=False) as other:
        start(other, "erasure", "b@example.de")
        verify(other, inbox.code())
    with store.session() as session:
        b_request = session.execute(select(DsrRequest.id).where(DsrRequest.kind == "erasure")).scalar_one()
    start(client, "access", "a@example.de")
    me = verify(client, inbox.code())
    refused = client.post(f"/privacy/requests/{b_request}/run", data={"csrf": csrf(me)})
    assert "only act on its own profile" in client.get(refused.headers["location"]).text
    with store.session() as session:
        assert session.get(DsrRequest, b_request).status == "verified"


def test_rectification_and_objection_from_the_page(
    store: Store, client: TestClient, smtp: tuple[Inbox, DsrSettings]
) -> None:
    inbox, _ = smtp
    [me] = ingest_all(store, event({"email": "fix@example.de"}, traits={"first_name": "Jon", "city": "Bonn"}))
    start(client, "rectification", "fix@example.de")
    page = verify(client, inbox.code())
    rectification = request_id(page, "Correct my data")
    done = client.post(f"/privacy/requests/{rectification}/run", data={"csrf": csrf(page), "first_name": "John"})
    assert "Your data was corrected" in client.get(done.headers["location"]).text
    with store.session() as session:
        held = reads.traits(session, store, me.profile_id)
    assert (held["first_name"].value, held["city"].value) == ("John", "Bonn")  # only what was corrected

    start(client, "objection", "fix@example.de")
    page = verify(client, inbox.code())
    objection = request_id(page, "Stop using my data for marketing")
    done = client.post(f"/privacy/requests/{objection}/run", data={"csrf": csrf(page)})
    assert "no longer use your data for marketing" in client.get(done.headers["location"]).text
    with store.session() as session:
        withdrawn = session.execute(
            select(ConsentRecord.purpose).where(
                ConsentRecord.status == "withdrawn", ConsentRecord.profile_id == me.profile_id
            )
        ).scalars()
        assert {"marketing", "marketing.email"} <= set(withdrawn)
