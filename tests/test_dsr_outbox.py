"""Downstream erasure notices: signed, retried with backoff after a failure, then delivered once."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cdp.ids import utcnow
from cdp.outbox import service as outbox
from cdp.outbox.settings import get_outbox_settings
from cdp.store import Store
from cdp.worker import outbox as worker
from tests import dsr_helpers as doors
from tests.dsr_helpers import OFFICER, verified_request
from tests.factories import event, ingest_all

SECRET = "destination-secret-0123456789"


class _Receiver(BaseHTTPRequestHandler):
    """A destination that answers 500 to the first `failures` posts, then 200; remembers what it applied."""

    failures = 0
    received: list[tuple[str, bool, int]] = []  # (idempotency key, signature valid, status answered)
    applied: set[str] = set()

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers.get("X-CDP-Timestamp", "")
        signed = timestamp.encode() + b"." + body  # the documented scheme, computed here independently
        expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300
        valid = fresh and hmac.compare_digest(expected, self.headers.get("X-CDP-Signature", ""))
        key = self.headers["X-CDP-Idempotency-Key"]
        status = 500 if type(self).failures > 0 else 200
        type(self).failures -= 1
        if status == 200:
            type(self).applied.add(key)
        type(self).received.append((key, valid, status))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receivers() -> Iterator[dict[str, tuple[str, type[_Receiver]]]]:
    servers, result = [], {}
    for name, failures in (("flaky-esp", 1), ("ads", 0)):
        handler = type(name, (_Receiver,), {"failures": failures, "received": [], "applied": set()})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        result[name] = (f"http://127.0.0.1:{server.server_address[1]}/erasures", handler)
    yield result
    for server in servers:
        server.shutdown()
        server.server_close()


def test_failed_delivery_is_retried_with_backoff_then_delivered_once(store: Store, receivers) -> None:
    for name, (url, _) in receivers.items():
        store.run(lambda s, n=name, u=url: outbox.register_destination(s, store, OFFICER, name=n, url=u, secret=SECRET))
    [subject] = ingest_all(store, event({"email": "erase-me@example.com"}))
    request = verified_request(store, "erasure", subject.profile_id)
    certificate = doors.execute(store, OFFICER, request.id).certificate
    assert {n["destination"] for n in certificate["downstream_notifications"]} == {"flaky-esp", "ads"}

    start = utcnow()
    first = worker.deliver_due(store, now=start)
    assert (first.delivered, first.retrying) == (1, 1)
    assert worker.deliver_due(store, now=start + timedelta(seconds=5)).delivered == 0  # backing off
    second = worker.deliver_due(store, now=start + timedelta(minutes=5))
    assert (second.delivered, second.retrying) == (1, 0)
    assert worker.deliver_due(store, now=start + timedelta(days=1)) == worker.DeliveryReport(0, 0, 0)

    flaky, ads = receivers["flaky-esp"][1], receivers["ads"][1]
    assert [status for _, _, status in flaky.received] == [500, 200]
    assert len({key for key, _, _ in flaky.received}) == 1  # the same idempotency key on the retry
    assert all(valid for _, valid, _ in flaky.received + ads.received)
    assert len(flaky.applied) == len(ads.applied) == 1 and len(ads.received) == 1
    status = {row["destination"]: row for row in store.run(lambda s: outbox.status_by_destination(s, request.id))}
    assert (status["flaky-esp"]["status"], status["flaky-esp"]["attempts"]) == ("delivered", 2)
    assert (status["ads"]["status"], status["ads"]["attempts"]) == ("delivered", 1)


def test_unreachable_destination_gives_up_after_max_attempts(store: Store) -> None:
    down = "http://127.0.0.1:9/nothing"
    store.run(lambda s: outbox.register_destination(s, store, OFFICER, name="down", url=down, secret=SECRET))
    [subject] = ingest_all(store, event({"email": "erase-me-too@example.com"}))
    request = verified_request(store, "erasure", subject.profile_id)
    doors.execute(store, OFFICER, request.id)
    settings = get_outbox_settings().model_copy(update={"outbox_max_attempts": 3, "outbox_timeout_seconds": 1})
    moment = utcnow()
    reports = []
    for _ in range(3):
        reports.append(worker.deliver_due(store, now=moment, settings=settings))
        moment += timedelta(days=1)
    assert [(r.retrying, r.dead) for r in reports] == [(1, 0), (1, 0), (0, 1)]
    [row] = store.run(lambda s: outbox.status_by_destination(s, request.id))
    assert row["status"] == "dead" and row["attempts"] == 3 and "ConnectError" in row["last_error"]
