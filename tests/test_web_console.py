"""The compliance console over HTTP (the real ASGI app): sign-in with password and TOTP, sessions that cannot be
fixed or reused after sign-out, CSRF on every form, the request queue by due date, request steps through the
same services and audit entries as GraphQL, the audit log, the breach register, ROPA and lineage pages."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import select, text
from starlette.testclient import TestClient

import audit
from audit.models import AuditEntry
from cdp.api.app import create_app
from cdp.auth.staff import StaffAccount, StaffError, cookie_signing_key, create_staff
from cdp.compliance.models import Incident
from cdp.dsr.models import DsrRequest
from cdp.store import Store
from tests.dsr_helpers import OFFICER, create_request, verified_request
from tests.factories import event, ingest_all
from tests.web_helpers import StaffLogin, csrf, staff_account


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store), follow_redirects=False) as http:
        yield http


def sign_in(client: TestClient, login: StaffLogin) -> None:
    token = csrf(client.get("/console/signin").text)
    response = client.post(
        "/console/signin",
        data={"csrf": token, "email": login.email, "password": login.password, "code": login.code()},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/"


def form_token(client: TestClient, path: str = "/console/") -> str:
    return csrf(client.get(path).text)


def test_sign_in_needs_password_and_a_fresh_authenticator_code(store: Store, client: TestClient) -> None:
    login = staff_account(store)
    token = csrf(client.get("/console/signin").text)
    for password, code in ((login.password, "000000"), ("wrong password!", login.code())):
        refused = client.post("/console/signin", data={"csrf": token, "email": login.email, "password": password,
                                                        "code": code})  # fmt: skip
        assert refused.status_code == 401
        assert "sign-in failed" in refused.text
        assert client.get("/console/").status_code == 303  # still signed out
    # The code used with the wrong password above was spent? No: a failed password never consumes the code.
    sign_in(client, login)
    assert client.get("/console/").status_code == 200


def test_five_failed_sign_ins_in_separate_requests_lock_the_account_for_15_minutes(
    store: Store, client: TestClient
) -> None:
    # docs/console.md: "five failed sign-ins in a row lock the account for 15 minutes". Each attempt is its own
    # request, so the count only reaches five if the door commits every failed attempt.
    login = staff_account(store)
    token = csrf(client.get("/console/signin").text)

    def attempt(code: str) -> int:
        form = {"csrf": token, "email": login.email, "password": login.password, "code": code}
        return client.post("/console/signin", data=form).status_code

    def account() -> StaffAccount:
        with store.session() as session:
            return session.execute(select(StaffAccount)).scalar_one()

    assert [attempt("000000") for _ in range(4)] == [401, 401, 401, 401]
    assert (account().failed_attempts, account().locked_until) == (4, None)
    before = datetime.now(UTC)
    assert attempt("000000") == 401
    locked_until = account().locked_until
    assert locked_until is not None
    assert before + timedelta(minutes=15) <= locked_until <= datetime.now(UTC) + timedelta(minutes=15)
    assert attempt(login.code()) == 401  # locked: the right password and a fresh code are refused too
    assert client.get("/console/").status_code == 303
    with store.transaction() as session:  # the 15 minutes have passed
        session.execute(select(StaffAccount)).scalar_one().locked_until = datetime.now(UTC) - timedelta(seconds=1)
    sign_in(client, login)
    assert client.get("/console/").status_code == 200


def test_cookie_is_signed_httponly_and_samesite_strict(store: Store, client: TestClient) -> None:
    sign_in(client, staff_account(store))
    header = client.get("/console/").headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/console" in header


def test_a_session_id_planted_before_sign_in_is_never_signed_in(store: Store, store_app: TestClient) -> None:
    """Session fixation: an attacker hands the victim the cookie the sign-in page gave the attacker, the victim
    signs in; the attacker's cookie must still be signed out, because sign-in issues a new session id."""
    attacker = store_app
    attacker.get("/console/signin")
    planted = attacker.cookies.get("cdp_console_signin")
    assert planted and attacker.cookies.get("cdp_console") is None  # nothing pre-auth names a session
    with TestClient(create_app(store), follow_redirects=False) as victim:
        victim.cookies.set("cdp_console_signin", planted, domain="testserver.local", path="/console/signin")
        sign_in(victim, staff_account(store))
        assert victim.cookies.get("cdp_console") not in (None, planted)
        assert victim.get("/console/").status_code == 200
    attacker.cookies.set("cdp_console", planted, domain="testserver.local", path="/console")
    page = attacker.get("/console/")
    assert page.status_code == 303 and page.headers["location"] == "/console/signin"


@pytest.fixture
def store_app(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store), follow_redirects=False) as http:
        yield http


def test_sign_out_ends_the_session_on_the_server(store: Store, client: TestClient) -> None:
    sign_in(client, staff_account(store))
    stolen = client.cookies.get("cdp_console")
    client.post("/console/signout", data={"csrf": form_token(client)})
    client.cookies.set("cdp_console", stolen, domain="testserver.local", path="/console")
    assert client.get("/console/").status_code == 303


def test_forms_without_this_sessions_csrf_token_are_refused(store: Store, client: TestClient) -> None:
    [me] = ingest_all(store, event({"email": "csrf@example.de"}))
    request = create_request(store, OFFICER, kind="access", profile_id=me.profile_id, source="cli")
    sign_in(client, staff_account(store))
    with TestClient(create_app(store), follow_redirects=False) as other:
        sign_in(other, staff_account(store, "other@shop.test"))
        foreign = form_token(other)
    target = f"/console/requests/{request.id}/refuse"
    for token in (None, foreign, "0" * 64):
        data = {"reason": "forged"} | ({"csrf": token} if token else {})
        refused = client.post(target, data=data)
        assert refused.status_code == 403
        assert "CSRF" in refused.text
    with store.session() as session:
        assert session.get(DsrRequest, request.id).status == "received"
    assert client.post("/console/signin", data={"email": "x@y.z", "password": "p", "code": "1"}).status_code == 403


def test_queue_is_sorted_by_due_date_and_marks_overdue(store: Store, client: TestClient) -> None:
    [de] = ingest_all(store, event({"email": "due-de@example.de"}, country="DE"))
    [br] = ingest_all(store, event({"email": "due-br@example.br"}, country="BR"))
    long_ago = datetime.now(UTC) - timedelta(days=40)
    old = create_request(store, OFFICER, kind="access", profile_id=de.profile_id, source="cli", received_at=long_ago)
    fresh_de = create_request(store, OFFICER, kind="erasure", profile_id=de.profile_id, source="cli")
    fresh_br = create_request(store, OFFICER, kind="access", profile_id=br.profile_id, source="cli")
    sign_in(client, staff_account(store))
    html = client.get("/console/").text
    # Expected order by the published periods: overdue EU request (received 40 days ago, GDPR 1 month), the
    # Brazilian one (LGPD 15 days), the new EU one (1 month).
    order = [m for m in re.findall(r"/console/requests/([0-9a-f-]{36})", html)]
    assert order == [old.id, fresh_br.id, fresh_de.id]
    rows = re.findall(r'<tr class="([^"]*)">\s*<td><time', html)
    assert rows == ["overdue", "", ""]
    assert "overdue by" in html


def test_officer_verifies_and_runs_an_erasure_and_sees_the_certificate(store: Store, client: TestClient) -> None:
    [me] = ingest_all(store, event({"email": "erase-me@example.de"}, traits={"first_name": "Erika"}))
    request = create_request(store, OFFICER, kind="erasure", profile_id=me.profile_id, source="cli")
    login = staff_account(store)
    sign_in(client, login)
    page = f"/console/requests/{request.id}"
    client.post(f"{page}/verify", data={"csrf": form_token(client, page), "method": "id card checked"})
    ran = client.post(f"{page}/run", data={"csrf": form_token(client, page)})
    assert ran.status_code == 303
    html = client.get(page).text
    assert "Erasure certificate" in html and "completed" in html
    with store.session() as session:
        row = session.get(DsrRequest, request.id)
        assert row.status == "completed" and json.loads(row.certificate)["request_id"] == request.id
        staff_entries = session.execute(
            select(AuditEntry.operation).where(AuditEntry.actor.like("staff:%")).order_by(AuditEntry.seq)
        ).scalars()
        operations = list(staff_entries)
    # The same audit entries as the GraphQL door, under the staff member's identity.
    assert operations == ["dsr:verified", "dsr:erasure", "dsr:keys_shredded"]


def test_officer_runs_an_access_request_and_downloads_the_archive(store: Store, client: TestClient) -> None:
    [me] = ingest_all(store, event({"email": "copy-me@example.de"}, traits={"first_name": "Greta"}))
    request = create_request(store, OFFICER, kind="access", profile_id=me.profile_id, source="cli")
    sign_in(client, staff_account(store))
    page = f"/console/requests/{request.id}"
    client.post(f"{page}/verify", data={"csrf": form_token(client, page), "method": "id card checked"})
    download = client.post(f"{page}/run", data={"csrf": form_token(client, page)})
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    assert download.headers["content-disposition"] == f'attachment; filename="dsr-{request.id}.zip"'
    assert download.headers["cache-control"] == "no-store"
    assert int(download.headers["content-length"]) == len(download.content)
    data = json.loads(zipfile.ZipFile(io.BytesIO(download.content)).read("data.json"))
    assert [t["value"] for t in data["traits"]] == ["Greta"]


def test_refusing_and_extending_go_through_the_dsr_rules(store: Store, client: TestClient) -> None:
    [me] = ingest_all(store, event({"email": "extend@example.de"}))
    request = verified_request(store, "access", me.profile_id)
    sign_in(client, staff_account(store))
    page = f"/console/requests/{request.id}"
    too_long = client.post(f"{page}/extend", data={"csrf": form_token(client, page), "months": "3", "reason": "x"})
    assert too_long.status_code == 303
    assert "at most" in client.get(page).text  # GDPR allows two more months, not three
    client.post(f"{page}/extend", data={"csrf": form_token(client, page), "months": "2", "reason": "complex"})
    with store.session() as session:
        row = session.get(DsrRequest, request.id)
    assert row.extension_reason == "complex" and row.due_on > row.original_due_on


def test_staff_roles_are_limited_to_the_console_roles(store: Store) -> None:
    with store.session() as session, pytest.raises(StaffError, match="role"):
        create_staff(session, email="agent@shop.test", role="support_agent", password="long enough password")
    with store.session() as session, pytest.raises(StaffError, match="password"):
        create_staff(session, email="short@shop.test", role="admin", password="short")


def test_audit_search_and_chain_verification_are_audited(store: Store, client: TestClient) -> None:
    [me] = ingest_all(store, event({"email": "audited@example.de"}))
    sign_in(client, staff_account(store))
    html = client.get("/console/audit", params={"subject": me.profile_id}).text
    assert me.profile_id[:8] in html
    verified = client.post("/console/audit/verify", data={"csrf": form_token(client, "/console/audit")})
    assert verified.status_code == 303
    assert "chain intact" in client.get("/console/audit").text
    with store.session() as session:
        operations = [e.operation for e in audit.query(session, limit=1000) if e.actor.startswith("staff:")]
    assert {"audit:search", "audit:verify"} <= set(operations)
    assert client.get("/console/audit", params={"since": "yesterday"}).status_code == 400


def test_breach_register_counts_affected_customers_from_the_audit_log(store: Store, client: TestClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    eu = ingest_all(store, *[event({"email": f"eu{i}@example.de"}) for i in range(3)])
    br = ingest_all(store, event({"email": "br@example.br"}, country="BR"))
    after = datetime.now(UTC) + timedelta(seconds=1)
    sign_in(client, staff_account(store))
    fmt = "%Y-%m-%dT%H:%M:%S"
    opened = client.post("/console/incidents", data={
        "csrf": form_token(client, "/console/incidents"), "title": "Leaked operator key", "description": "key found",
        "since": before.strftime(fmt), "until": after.strftime(fmt),
    })  # fmt: skip
    assert opened.status_code == 303
    page = opened.headers["location"]
    html = client.get(page).text
    # Every customer the ingest wrote in the window: 3 in the EU, 1 in Brazil.
    assert "EU: 3" in html and "BR: 1" in html and len(eu) + len(br) == 4
    assert "GDPR Art. 33" in html and "LGPD Art. 48" in html
    client.post(f"{page}/notify", data={"csrf": form_token(client, page), "jurisdiction": "EU"})
    client.post(f"{page}/close", data={"csrf": form_token(client, page), "summary": "key rotated"})
    html = client.get(page).text
    assert "closed" in html and "notified" in html
    refused = client.post(f"{page}/update", data={"csrf": form_token(client, page), "note": "late"})
    assert "append-only" in client.get(refused.headers["location"]).text
    with store.session() as session, pytest.raises(Exception, match="append-only"):
        session.execute(text("UPDATE incident SET title = 'rewritten'"))
        session.flush()
    with store.session() as session:
        assert session.execute(select(Incident.title)).scalar_one() == "Leaked operator key"


def test_ropa_downloads_in_three_formats(store: Store, client: TestClient) -> None:
    sign_in(client, staff_account(store))
    assert "Record of processing" in client.get("/console/ropa").text
    rows = list(csv.DictReader(io.StringIO(client.get("/console/ropa.csv").text)))
    assert {"purpose": "marketing.email", "jurisdiction": "US-CA"}.items() <= next(
        r for r in rows if r["purpose"] == "marketing.email" and r["jurisdiction"] == "US-CA"
    ).items()
    assert json.loads(client.get("/console/ropa.json").text)["activities"]
    assert yaml.safe_load(client.get("/console/ropa.yaml").text)["system"][0]["fides_key"] == "cdp"
    assert client.get("/console/ropa.xml").status_code == 404


def test_lineage_pii_reviews_and_keys_pages(store: Store, client: TestClient) -> None:
    [me] = ingest_all(store, event({"email": "lineage@example.de"}, traits={"first_name": "Lina"}, source="shopify"))
    sign_in(client, staff_account(store))
    html = client.get("/console/lineage", params={"profile": me.profile_id, "trait": "first_name"}).text
    assert "Lina" in html and "shopify" in html
    missing = client.get("/console/lineage", params={"profile": me.profile_id, "trait": "nickname"}).text
    assert "no stored value" in missing
    for path, heading in (("/console/pii", "Discovered personal data"), ("/console/reviews", "review items"),
                          ("/console/keys", "API keys")):  # fmt: skip
        assert heading in client.get(path).text


def test_pages_send_security_headers_and_no_external_assets(client: TestClient) -> None:
    response = client.get("/console/signin")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert not re.search(r'(src|href)="(https?:)?//', response.text)  # every asset is served by the app
    assert client.get("/assets/app.css").status_code == 200


def test_production_cookies_are_secure_and_the_signing_key_can_be_configured(
    production_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_WEB_SECRET", "a deployment's own secret")
    production = production_store
    try:
        assert cookie_signing_key(production) == b"a deployment's own secret"
        with TestClient(create_app(production), base_url="https://testserver") as http:
            assert "secure" in http.get("/console/signin").headers["set-cookie"].lower()
    finally:
        production.close()
