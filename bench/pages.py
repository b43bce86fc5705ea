"""Server-side latency of the console and privacy-centre pages through the ASGI app, in one run, against
GET /healthz through the same app as the baseline:

* the request queue with 100 requests shown (of --requests in the table), the audit-log page (100 entries),
  the ROPA page, and a verified subject's /privacy/me (requests + consent per purpose, audited).

  python bench/pages.py [--requests 1000] [--repeats 200] [--postgres URL]

Each of `--repeats` rounds requests every page once, baseline first, so load on the machine hits all pages
alike (they used to be sampled one page after another). Per page: the median, p95 and spread (min–max) of
the request times, and the ratio of its median to the baseline's. The baseline is a GET through the same
app, middleware and test client (the staff client, cookies and all) minus the page's own work (session
check, queries, gate checks, audit entries and template): /healthz answers a constant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
from starlette.responses import Response
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._rounds import interleaved  # noqa: E402
from bench._setup import bench_store  # noqa: E402
from cdp.access.gate import AccessContext  # noqa: E402
from cdp.api.app import create_app  # noqa: E402
from cdp.auth.service import create_api_key  # noqa: E402
from cdp.auth.staff import cookie_signing_key, create_staff  # noqa: E402
from cdp.dsr import service  # noqa: E402
from cdp.ingest.service import ingest  # noqa: E402
from cdp.web.cookies import CookieSession  # noqa: E402

OFFICER = AccessContext.operator("data_subject_rights")
OPERATOR = AccessContext.operator("order_fulfillment")


def seed(store, requests: int) -> str:  # noqa: ANN001
    """`requests` customers with one access request each, received over the last 60 days; returns one id."""
    now = datetime.now(UTC)
    events = [
        {"source": "bench", "source_event_id": f"e{i}", "type": "identify", "occurred_at": now.isoformat(),
         "country": "DE", "identifiers": {"email": f"p{i}@example.de"}, "traits": {"first_name": f"P{i}"},
         "properties": {}}
        for i in range(requests)
    ]  # fmt: skip
    outcomes = store.run(lambda s: ingest(s, store, OPERATOR, events))
    with store.transaction() as session:
        for i, outcome in enumerate(outcomes):
            service.create_request(session, store, OFFICER, kind="access", profile_id=outcome.profile_id,
                                   source="cli", received_at=now - timedelta(days=i % 60))  # fmt: skip
    return outcomes[0].profile_id


def get(client: TestClient, path: str) -> Callable[[], None]:
    def run() -> None:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    with bench_store(args.postgres) as store:
        profile_id = seed(store, args.requests)
        with store.transaction() as session:
            secret = create_staff(session, email="bench@shop.test", role="compliance_officer",
                                  password="bench password 1").totp_secret  # fmt: skip
            _, token = create_api_key(session, name="bench subject", role="data_subject", profile_id=profile_id)
        app = create_app(store)
        staff = TestClient(app, follow_redirects=False)
        form = staff.get("/console/signin").text.split('name="csrf" value="')[1].split('"')[0]
        credentials = {"email": "bench@shop.test", "password": "bench password 1", "code": pyotp.TOTP(secret).now()}
        signed = staff.post("/console/signin", data={"csrf": form, **credentials})
        assert signed.status_code == 303
        subject = TestClient(app, follow_redirects=False)
        # A verified subject's cookie, signed as the app signs it (the same key and cookie name).
        cookie = CookieSession(cookie_signing_key(store), name="cdp_privacy", path="/privacy", max_age=3600,
                               secure=False)  # fmt: skip
        response = Response()
        cookie.save(response, {"sid": "bench", "token": token})
        value = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        subject.cookies.set("cdp_privacy", value, domain="testserver.local", path="/privacy")
        pages = {"GET /healthz (baseline)": get(staff, "/healthz")}
        pages |= {f"console {p}": get(staff, f"/console{p}") for p in ("/", "/audit", "/ropa")}
        pages["privacy /me"] = get(subject, "/privacy/me")
        interleaved(pages, 5)  # warm up caches and the template compiler
        times = interleaved(pages, args.repeats)
        baseline = times["GET /healthz (baseline)"].median
        print(f"{args.requests} requests in the queue, {args.repeats} interleaved rounds; ms per request")
        for label, spread in times.items():
            print(f"{label:28} median {spread.median * 1000:7.2f}  p95 {spread.quantile(0.95) * 1000:7.2f}"
                  f"  (min–max {spread.low * 1000:.2f}–{spread.high * 1000:.2f})"
                  f"  ratio {spread.median / baseline:6.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
