"""Both journeys in a real browser (Debian's chromium through Playwright), at a phone's 375 px and a desktop's
1280 px: the data subject's request -> code -> export -> erasure, and the officer's sign-in -> queue -> run ->
certificate; plus a cross-site and a token-less form post (CSRF) and a planted session cookie (fixation).

Every page is screenshotted; with CDP_SCREENSHOTS=1 the pictures go to docs/screenshots/ (docs/console.md
shows them). The data is fake: example.* addresses and made-up names."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright import sync_api
from sqlalchemy import select

from cdp.dsr.models import DsrRequest
from cdp.dsr.settings import DsrSettings
from cdp.store import Store
from tests.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, screenshot_dir, serving
from tests.dsr_helpers import OFFICER, Inbox, create_request, verified_request
from tests.factories import event, ingest_all, order
from tests.web_helpers import StaffLogin, staff_account

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: apt-get install -y chromium")


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The browser journeys run on SQLite only: the pages' storage paths are the services', tested on both."""
    yield f"sqlite:///{tmp_path / 'cdp.db'}"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def site(store: Store) -> Iterator[str]:
    with serving(store) as url:
        yield url


def _page(browser: object, width: int, **kw: object) -> object:
    context = browser.new_context(viewport=VIEWPORTS[width], accept_downloads=True, **kw)  # type: ignore[attr-defined]
    return context.new_page()


def _fits(page: object) -> None:
    """Usable at this width: nothing makes the whole page scroll sideways (wide tables scroll in their box)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    culprits = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right >"
        " document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + ' '"
        " + e.textContent.trim().slice(0, 30))"
    )
    assert overflow <= 0, f"page is {overflow}px wider than the viewport: {culprits}"


def _shot(page: object, shots: Path, name: str, width: int) -> None:
    _fits(page)
    page.screenshot(path=str(shots / f"{name}-{width}.png"))


@pytest.mark.parametrize("width", [375, 1280])
def test_subject_requests_verifies_exports_and_erases(
    browser: object, site: str, store: Store, smtp: tuple[Inbox, DsrSettings], tmp_path: Path, width: int
) -> None:
    inbox, _ = smtp
    shots = screenshot_dir(tmp_path)
    ingest_all(
        store,
        event(
            {"email": "mia.schneider@example.de"},
            traits={"first_name": "Mia", "last_name": "Schneider", "city": "Köln"},
        ),  # fmt: skip
        order({"email": "mia.schneider@example.de"}, total="42.50"),
    )
    page = _page(browser, width, locale="de-DE")
    page.goto(f"{site}/privacy/")
    assert page.locator("h1").inner_text() == "Datenschutz-Center"  # the browser's language
    page.click('nav.langs a[href="?lang=en"]')
    _shot(page, shots, "privacy-start", width)
    page.check("input[value=access]")
    page.fill("input[name=email]", "mia.schneider@example.de")
    page.select_option("select[name=country]", "DE")
    page.click("button[type=submit]")
    page.wait_for_url("**/privacy/verify")
    assert "GDPR Art. 12(3)" in page.inner_text("main")
    _shot(page, shots, "privacy-verify", width)
    page.fill("input[name=code]", inbox.code())
    page.click("button[type=submit]")
    page.wait_for_url("**/privacy/me")
    assert "token" not in page.url and "cdp_" not in page.url
    _shot(page, shots, "privacy-me", width)
    with page.expect_download() as download:
        page.click("text=Download my data")
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert any("Köln" in archive.read(n).decode("utf-8", "replace") for n in archive.namelist())

    page.click("text=Make another request")
    page.check("input[value=erasure]")
    page.fill("input[name=email]", "mia.schneider@example.de")
    page.click("button[type=submit]")
    page.wait_for_url("**/privacy/verify")
    page.fill("input[name=code]", inbox.code())
    page.click("button[type=submit]")
    page.wait_for_url("**/privacy/me")
    page.click("text=Erase my data now")
    page.wait_for_selector("text=Your data was erased")
    _shot(page, shots, "privacy-erased", width)
    with store.session() as session:
        erasures = list(session.execute(select(DsrRequest).where(DsrRequest.kind == "erasure")).scalars())
    assert [r.status for r in erasures] == ["completed"]
    page.context.close()


def _seed_queue(store: Store) -> tuple[str, str]:
    """Fake customers in three jurisdictions; an overdue request, a verified erasure, a fresh one."""
    people = ingest_all(
        store,
        event({"email": "lukas.weber@example.de"}, traits={"first_name": "Lukas", "city": "Berlin"}),
        event({"email": "ana.souza@example.br"}, country="BR", traits={"first_name": "Ana"}),
        event({"email": "haruto.sato@example.jp"}, country="JP", traits={"first_name": "Haruto"}),
    )
    de, br, jp = (p.profile_id for p in people)
    create_request(store, OFFICER, kind="access", profile_id=de, source="cli",
                   received_at=datetime.now(UTC) - timedelta(days=40))  # fmt: skip
    create_request(store, OFFICER, kind="rectification", profile_id=br, source="privacy_centre")
    erasure = verified_request(store, "erasure", jp)
    return erasure.id, de


def _sign_in(page: object, site: str, login: StaffLogin) -> None:
    page.goto(f"{site}/console/signin")
    page.fill("input[name=email]", login.email)
    page.fill("input[name=password]", login.password)
    page.fill("input[name=code]", login.code())
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/console/")


@pytest.mark.parametrize("width", [375, 1280])
def test_officer_signs_in_runs_an_erasure_and_sees_the_certificate(
    browser: object, site: str, store: Store, tmp_path: Path, width: int
) -> None:
    shots = screenshot_dir(tmp_path)
    erasure_id, de = _seed_queue(store)
    login = staff_account(store, "dana.officer@shop.example")
    page = _page(browser, width)
    page.goto(f"{site}/console/")
    page.wait_for_url("**/console/signin")
    _shot(page, shots, "console-signin", width)
    _sign_in(page, site, login)
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 3
    assert "overdue" in (rows.nth(0).get_attribute("class") or "")
    assert "overdue by" in rows.nth(0).inner_text()
    _shot(page, shots, "console-queue", width)
    page.click(f"a[href='/console/requests/{erasure_id}']")
    _shot(page, shots, "console-request", width)
    page.click("text=Run erasure")
    page.wait_for_selector("text=Erasure certificate")
    assert "completed" in page.inner_text("main")
    _shot(page, shots, "console-certificate", width)

    for path, name, heading in (
        (f"/console/audit?subject={de}", "console-audit", "Audit log"),
        ("/console/ropa", "console-ropa", "Record of processing"),
        (f"/console/lineage?profile={de}&trait=first_name", "console-lineage", "Trait lineage"),
        ("/console/pii", "console-pii", "Discovered personal data"),
        ("/console/reviews", "console-reviews", "Identity review items"),
        ("/console/keys", "console-keys", "API keys"),
    ):
        page.goto(site + path)
        assert heading in page.locator("h1").inner_text()
        _shot(page, shots, name, width)
    page.goto(f"{site}/console/audit")
    page.click("text=Verify hash chain")
    page.wait_for_selector("text=chain intact")

    page.goto(f"{site}/console/incidents")
    page.fill("input[name=title]", "Support laptop stolen")
    page.fill("textarea[name=description]", "Encrypted laptop of a support agent stolen from a car.")
    page.fill("input[name=since]", (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=until]", (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.click("text=Open incident")
    page.wait_for_selector("text=Notification drafts")
    assert "GDPR Art. 33" in page.inner_text("main")
    _shot(page, shots, "console-incident", width)
    page.goto(f"{site}/console/incidents")
    _shot(page, shots, "console-incidents", width)
    page.context.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_forms_posted_cross_site_or_without_the_token_change_nothing(
    browser: object, site: str, store: Store, width: int
) -> None:
    erasure_id, _ = _seed_queue(store)
    page = _page(browser, width)
    _sign_in(page, site, staff_account(store))
    # Another site's page (localhost is another site than 127.0.0.1) posting to the console: the SameSite=Strict
    # cookie is not sent, so there is no session to act in.
    page.goto(site.replace("127.0.0.1", "localhost") + "/healthz")
    page.set_content(
        f'<form method="post" action="{site}/console/requests/{erasure_id}/refuse">'
        '<input name="reason" value="forged"><button>go</button></form>'
    )
    page.click("button")
    page.wait_for_url("**/console/signin")
    # The console's own form with its CSRF field removed: refused by the token check.
    page.goto(f"{site}/console/requests/{erasure_id}")
    assert "Refuse" in page.inner_text("main"), page.url + page.inner_text("main")
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.fill("form[action$='/refuse'] input[name=reason]", "forged")
    page.click("form[action$='/refuse'] button")
    assert "CSRF" in page.inner_text("main")
    with store.session() as session:
        assert session.get(DsrRequest, erasure_id).status == "verified"
    page.context.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_a_cookie_planted_before_sign_in_stays_signed_out(browser: object, site: str, store: Store, width: int) -> None:
    attacker = _page(browser, width)
    attacker.goto(f"{site}/console/signin")
    planted = attacker.context.cookies()
    assert [c["name"] for c in planted] == ["cdp_console_signin"]
    assert planted[0]["httpOnly"] and planted[0]["sameSite"] == "Strict"
    victim = _page(browser, width)
    victim.context.add_cookies(planted)
    _sign_in(victim, site, staff_account(store))
    [after] = [c for c in victim.context.cookies() if c["name"] == "cdp_console"]
    assert after["value"] != planted[0]["value"] and after["httpOnly"] and after["sameSite"] == "Strict"
    attacker.context.add_cookies([{**planted[0], "name": "cdp_console", "path": "/console"}])
    attacker.goto(f"{site}/console/")
    assert attacker.url.endswith("/console/signin")
    attacker.context.close()
    victim.context.close()
