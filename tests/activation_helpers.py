"""Shared pieces of the activation tests: a signed-webhook receiver on loopback, Shopify deliveries signed
as Shopify signs them, and the audit entries of trigger decisions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from audit.models import AuditEntry
from cdp.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "shopify"
SHOPIFY_SECRET = "shpss_test_secret_0123456789abcdef"
DESTINATION_SECRET = "whsec-test-0123456789abcdef"


@dataclass
class Received:
    body: dict[str, Any]
    signature_valid: bool
    idempotency_key: str
    at: float


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200  # what it answers
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def receiver(secret: str = DESTINATION_SECRET) -> Iterator[Receiver]:
    """An HTTP receiver checking the documented signature scheme with its own HMAC code (the oracle)."""
    box = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's hook
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            timestamp = self.headers.get("X-CDP-Timestamp", "")
            expected = (
                "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
            )
            fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300
            valid = fresh and hmac.compare_digest(expected, self.headers.get("X-CDP-Signature", ""))
            with box.lock:
                box.received.append(
                    Received(json.loads(raw), valid, self.headers["X-CDP-Idempotency-Key"], time.time())
                )
            self.send_response(box.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    payload = json.loads((FIXTURES / f"{name}.json").read_text())
    payload.update(changes)
    return payload


def send_shopify(
    client: TestClient, topic: str, payload: dict[str, Any], webhook_id: str, *, secret: str = SHOPIFY_SECRET
):
    body = json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": "shop.myshopify.com",
        "Content-Type": "application/json",
    }
    return client.post("/connectors/shopify", content=body, headers=headers)


def audit_entries(store: Store, operation: str) -> list[AuditEntry]:
    with store.session() as session:
        query = select(AuditEntry).where(AuditEntry.operation == operation).order_by(AuditEntry.seq)
        return list(session.execute(query).scalars())
