"""Hostile inputs and operations (issue 14): every finding of the red team as a regression test.

Each test reproduces one finding against the real door (GraphQL over a live server, the webhook, `cdp import`,
the key store and the CLI) and asserts the refusal the fix gives: a 4xx naming the field and the rule, never
a 5xx, never the offending value in a message, never a lost key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from presidio_analyzer import RecognizerResult
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from starlette.testclient import TestClient
from typer.testing import CliRunner

import audit as audit_lib
from cdp.access.audit import audit_now
from cdp.access.gate import AccessContext
from cdp.api.app import create_app
from cdp.auth.service import create_api_key
from cdp.cli.main import app as cli
from cdp.cli.serving import listener
from cdp.crypto.keystore import KeyStore, RetireRefused, audit_checkpoint, data_key
from cdp.crypto.keystore import metadata as keystore_metadata
from cdp.crypto.master import MasterKeyError, MasterKeyRing, load_key_ring, parse_key_ring
from cdp.db import DatabaseRoleError, make_engine
from cdp.dsr.models import DsrRequest
from cdp.dsr.settings import get_dsr_settings
from cdp.events.models import Event
from cdp.events.partitions import ensure_partitions
from cdp.pii import analyzer
from cdp.retention.service import run_retention
from cdp.settings import Settings, get_settings
from cdp.store import Store
from tests import reads
from tests.factories import event, ingest_all, order

runner = CliRunner()
LEAK = "REJECT.LEAK@EXAMPLE.ORG"
INGEST = "mutation Send($events: [JSON!]!) { ingestEvents(events: $events) { index status errors profileId } }"
SECRET = "shpss_hostile_0123456789"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _admin_key(store: Store) -> str:
    with store.session() as session:
        _, secret = create_api_key(session, name="hostile admin", role="admin")
        session.commit()
    return secret


@pytest.fixture
def live(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app served by uvicorn on a loopback port in this process (one event loop, as in production)."""
    monkeypatch.setenv("CDP_SHOPIFY_API_SECRET", SECRET)
    get_dsr_settings.cache_clear()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()
    get_dsr_settings.cache_clear()


def _ingest_over_http(base: str, key: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": INGEST, "variables": {"events": events}},
        headers={"Authorization": f"Bearer {key}", "X-CDP-Purpose": "order_fulfillment"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["ingestEvents"]


# -- 1. PII analysis: linear, bounded, off the event loop -----------------------------------------------------


class _Counting(RecognizerResult):
    """A finding that counts how often its span is read: the work `_resolve` does, without a clock."""

    reads = 0

    def __getattribute__(self, name: str) -> Any:
        if name in ("start", "end"):
            _Counting.reads += 1
        return super().__getattribute__(name)


def test_resolving_findings_is_not_quadratic() -> None:
    # 4,000 phone numbers in one ticket: pairwise overlap checks read spans ~16 million times.
    findings = [_Counting("PHONE_NUMBER", i * 20, i * 20 + 12, 0.5) for i in range(4000)]
    _Counting.reads = 0
    kept = analyzer._resolve("x" * 80_000, findings)
    assert len(kept) == 4000
    assert _Counting.reads < 40 * len(findings)


def _pairwise(text: str, results: list[RecognizerResult]) -> list[tuple[str, int, int]]:
    """The rule as first written (the oracle): longest, then most specific, then best; skip any overlap."""
    technical = [m.span() for m in analyzer._TECHNICAL.finditer(text)]
    ranked = sorted(
        (r for r in results if not any(s <= r.start and r.end <= e for s, e in technical)),
        key=lambda r: (-(r.end - r.start), analyzer._RANK.get(r.entity_type, 99), -r.score),
    )
    kept: list[RecognizerResult] = []
    for r in ranked:
        if all(r.end <= k.start or k.end <= r.start for k in kept):
            kept.append(r)
    return sorted((r.entity_type, r.start, r.end) for r in kept)


@pytest.mark.parametrize("seed", range(20))
def test_sort_and_sweep_keeps_exactly_what_pairwise_resolution_kept(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice("0123456789abcdef -:tT") for _ in range(400))
    entities = ["PHONE_NUMBER", "CN_MOBILE", "EMAIL_ADDRESS", "CREDIT_CARD", "IP_ADDRESS"]
    results = []
    for _ in range(rng.randint(1, 80)):
        start = rng.randrange(0, 390)
        results.append(RecognizerResult(rng.choice(entities), start, start + rng.randint(1, 30), rng.random()))
    resolved = sorted((f.entity_type, f.start, f.end) for f in analyzer._resolve(text, results))
    assert resolved == _pairwise(text, results)


def _ticket(body: str, **overrides: Any) -> dict[str, Any]:
    return event(
        {"email": "ticket@example.com"}, type="ticket", properties={"subject": "help", "body": body}, **overrides
    )


@pytest.fixture
def small_text_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("CDP_MAX_TEXT_CHARS", "500")
    get_settings.cache_clear()
    yield 500
    get_settings.cache_clear()


def test_free_text_above_the_declared_limit_is_refused_naming_the_field(store: Store, small_text_limit: int) -> None:
    digits = "call 13812345678 now " * 100
    at_limit, over = digits[:small_text_limit], digits[: small_text_limit + 1]
    accepted, refused = ingest_all(store, _ticket(at_limit), _ticket(over))
    assert accepted.status == "stored"
    assert refused.status == "rejected"
    assert refused.errors == ["properties.body: text longer than 500 characters (the limit CDP_MAX_TEXT_CHARS)"]


def test_the_default_text_limit_is_declared_in_settings() -> None:
    assert Settings().max_text_chars == 20_000


def test_deeply_nested_properties_are_refused_not_walked(store: Store) -> None:
    nested: Any = "13812345678"
    for _ in range(200):
        nested = {"a": nested}
    [outcome] = ingest_all(store, event({"email": "deep@example.com"}, type="ticket", properties={"meta": nested}))
    assert outcome.status == "rejected"
    assert outcome.errors == ["properties.meta" + ".a" * 30 + ": nested deeper than 32 levels"]


def _hold(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> tuple[threading.Event, threading.Event]:
    """Make `module.name` wait, once entered, until released: (entered, release)."""
    entered, release = threading.Event(), threading.Event()
    real = getattr(module, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    return entered, release


def test_ingest_over_graphql_does_not_stall_other_requests(
    store: Store, live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one request's PII analysis runs, the event loop still answers /healthz."""
    from cdp.ingest import classify

    entered, release = _hold(monkeypatch, classify, "analyze_batch")
    key = _admin_key(store)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(_ingest_over_http(live, key, [_ticket("call 13812345678")])))
    worker.start()
    try:
        assert entered.wait(30)
        health = httpx.get(f"{live}/healthz", timeout=10)  # times out when the analysis holds the event loop
        assert health.status_code == 200
    finally:
        release.set()
        worker.join()
    assert result[0][0]["status"] == "stored"


# -- 5. Inputs outside GraphQL: no echoed values, no personal source ids ------------------------------------


def test_error_messages_name_the_field_not_the_value(store: Store) -> None:
    outcomes = ingest_all(
        store,
        order({"email": "buyer@example.com"}, currency=LEAK),
        event({"email": "kind@example.com", LEAK.lower(): "x"}),  # type: ignore[dict-item]
        event({"email": "trait@example.com"}, traits={LEAK.lower(): "x"}),
    )
    assert [o.status for o in outcomes] == ["rejected"] * 3
    assert outcomes[0].errors == [
        "properties.currency: unknown currency (expected an ISO-4217 code in the rates table)"
    ]
    assert outcomes[1].errors[0].startswith("identifiers: unknown identifier kind(s) <key>; expected email")
    assert outcomes[2].errors == ["traits: trait names must be snake_case identifiers (1 are not)"]
    assert LEAK.lower() not in json.dumps([o.errors for o in outcomes]).lower()


def test_cdp_import_output_carries_no_input_value(cli_env: Settings, tmp_path: Path) -> None:
    lines = [
        order({"email": "import-buyer@example.com"}, currency=LEAK),
        event({"email": "import-ok@example.com"}),
        "[" * 100_000,
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    result = runner.invoke(cli, ["import", str(path)])
    assert result.exit_code == 1
    assert "line 1: properties.currency: unknown currency" in result.output
    assert "line 3: malformed JSON: nested too deeply" in result.output
    assert "1 stored" in result.output
    assert "leak" not in result.output.lower()


@pytest.mark.parametrize(
    "source_event_id", ["anna.schmidt@example.de", "signup-anna@example.de-1", "+49 170 1234567", "tel+8613812345678"]
)
def test_a_source_event_id_that_is_personal_data_is_refused(store: Store, source_event_id: str) -> None:
    [outcome] = ingest_all(store, event({"email": "sid@example.com"}, source_event_id=source_event_id))
    assert outcome.status == "rejected"
    assert outcome.errors == [
        "source_event_id: looks like personal data (an email address or an international phone number); "
        "use the source system's own event id"
    ]
    with store.session() as session:
        assert session.execute(select(func.count()).select_from(Event)).scalar_one() == 0


def test_ordinary_source_event_ids_are_accepted(store: Store) -> None:
    ids = ["5123456789012", "evt-2026-03-01-17", "gid://shopify/Order/5123456789012", "a1b2c3"]
    outcomes = ingest_all(
        store, *(event({"email": f"ok{i}@example.com"}, source_event_id=s) for i, s in enumerate(ids))
    )
    assert [o.status for o in outcomes] == ["stored"] * len(ids)


def _start_together(url: str, ring: MasterKeyRing, workers: int) -> tuple[list[bytes], list[BaseException]]:
    """`workers` threads, each with its own engine, initialise one key store at the same moment; returns the
    blind index each computes for one value (equal when they share the index key)."""
    barrier = threading.Barrier(workers)
    roots: list[bytes] = []
    errors: list[BaseException] = []

    def start() -> None:
        keystore = KeyStore(make_engine(url), ring)
        try:
            barrier.wait()
            keystore.ensure_schema()
            roots.append(keystore.blind_indexer().index("email", "same@example.com"))
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            keystore.engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return roots, errors


def test_key_store_initialisation_is_safe_under_concurrent_starts(database_url: str) -> None:
    """Processes starting together on an empty key store (here: threads with their own connections) all
    succeed and agree on one blind-index key."""
    ring = parse_key_ring("v1:" + base64.b64encode(bytes(32)).decode(), "test")
    for _ in range(3):  # each round starts from an empty key store
        roots, errors = _start_together(database_url, ring, 8)
        assert errors == []
        assert len(roots) == 8 and len(set(roots)) == 1
        engine = make_engine(database_url)
        keystore_metadata.drop_all(engine)
        engine.dispose()


# -- 2. Key rotation in two phases ---------------------------------------------------------------------------


def _ring(*versions: int) -> MasterKeyRing:
    return MasterKeyRing({v: bytes([v]) * 32 for v in versions})


def _keystore(settings: Settings, ring: MasterKeyRing, reload: MasterKeyRing | None = None) -> KeyStore:
    keystore = KeyStore(
        make_engine(settings.resolved_keystore_url()), ring, reload_ring=(lambda: reload) if reload else None
    )
    keystore.ensure_schema()
    return keystore


def _wrapped_versions(keystore: KeyStore) -> list[int]:
    with keystore.engine.connect() as conn:
        return sorted(conn.execute(select(data_key.c.kek_version)).scalars())


def test_a_process_behind_the_rotation_reloads_its_ring_before_writing(settings: Settings) -> None:
    running = _keystore(settings, _ring(1), reload=_ring(1, 2))  # started before the rotation, reads the file
    rotate = _keystore(settings, _ring(1, 2))
    assert rotate.make_current() == 2
    running.new_data_key("11111111-1111-4111-8111-111111111111")
    running.flush()
    assert running.ring.current_version == 2
    assert _wrapped_versions(running) == [2]


def test_a_key_wrapped_with_a_version_this_process_lacks_is_read_after_reloading(settings: Settings) -> None:
    rotated = _keystore(settings, _ring(1, 2))
    rotated.make_current()
    made = rotated.new_data_key("11111111-1111-4111-8111-111111111111")
    rotated.flush()
    running = _keystore(settings, _ring(1), reload=_ring(1, 2))
    assert running.key_by_id(made.id).profile_id == made.profile_id
    assert running.ring.current_version == 2


def test_retire_refuses_while_any_key_is_wrapped_with_the_version(settings: Settings) -> None:
    stale = _keystore(settings, _ring(1))  # CDP_MASTER_KEY without the new version: it cannot reload
    stale.new_data_key("11111111-1111-4111-8111-111111111111")
    stale.flush()
    rotate = _keystore(settings, _ring(1, 2))
    rotate.make_current()
    assert rotate.rewrap_all() == 1
    stale.new_data_key("22222222-2222-4222-8222-222222222222")  # written after the rewrap, still under v1
    stale.flush()
    with pytest.raises(RetireRefused, match="1 keys are still wrapped with version 1"):
        rotate.retire(1)
    with pytest.raises(RetireRefused, match="not older than the current version 2"):
        rotate.retire(2)
    assert rotate.rewrap_all() == 1
    rotate.retire(1)
    assert _wrapped_versions(rotate) == [2, 2]
    # From now on the stale process cannot write a key nobody could unwrap: its write fails, loudly.
    stale.new_data_key("33333333-3333-4333-8333-333333333333")
    with pytest.raises(MasterKeyError, match="master key version 1 is retired"):
        stale.flush()
    assert _wrapped_versions(rotate) == [2, 2]


@pytest.fixture
def key_file_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment for `cdp` processes using a master key *file* (the rotatable kind)."""
    env = {
        "CDP_DATA_DIR": str(settings.data_dir),
        "CDP_DATABASE_URL": settings.database_url,
        "CDP_KEYSTORE_URL": settings.keystore_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CDP_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


@contextmanager
def _cdp_serve(env: dict[str, str], tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """`cdp serve ARGS` as its own process on a free loopback port, with a new key file and an admin key:
    (process, base URL, key), up and answering /healthz; stopped afterwards."""
    assert runner.invoke(cli, ["keys", "init"]).exit_code == 0
    store = Store.open(get_settings())
    key = _admin_key(store)
    store.close()
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "cdp.cli.main", "serve", "--port", str(port), *args],
        env={**env, "PATH": str(Path(sys.executable).parent)},
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield server, base, key
    finally:
        server.terminate()
        server.wait(30)


def test_rotation_while_a_server_runs_loses_nothing(key_file_env: dict[str, str], tmp_path: Path) -> None:
    """`cdp keys rotate` and `cdp keys retire` while `cdp serve` ingests: every key stays unwrappable."""
    cities = {}
    with _cdp_serve(key_file_env, tmp_path) as (_, base, key):
        batch = 0

        def send(n: int) -> None:
            nonlocal batch
            batch += 1
            events = [
                event({"email": f"rot{batch}-{i}@example.com"}, traits={"city": f"City {batch}-{i}"}) for i in range(n)
            ]
            for e, outcome in zip(events, _ingest_over_http(base, key, events), strict=True):
                assert outcome["status"] == "stored", outcome
                cities[outcome["profileId"]] = e["traits"]["city"]

        send(5)  # under version 1
        rotated = runner.invoke(cli, ["keys", "rotate"])
        assert rotated.exit_code == 0, rotated.output
        send(5)  # the server has version 1 in memory: it must notice version 2 before writing
        retired = runner.invoke(cli, ["keys", "retire", "1"])
        assert retired.exit_code == 0, retired.output
        send(5)
        rotated = runner.invoke(cli, ["keys", "rotate"])
        assert rotated.exit_code == 0, rotated.output
        send(5)
        assert runner.invoke(cli, ["keys", "retire", "2"]).exit_code == 0
        send(5)
    ring = load_key_ring(get_settings())
    assert set(ring.keys) == {3}
    reopened = Store.open(get_settings())
    assert set(_wrapped_versions(reopened.keystore)) == {3}
    with reopened.session() as session:
        for profile_id, city in cities.items():  # every ciphertext still decrypts with the final ring alone
            assert reads.traits(session, reopened, profile_id)["city"].value == city
    reopened.close()
    assert len(cities) == 25


# -- 3. Shopify webhooks ------------------------------------------------------------------------------------


@pytest.fixture
def shopify(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("CDP_SHOPIFY_API_SECRET", SECRET)
    get_dsr_settings.cache_clear()
    with TestClient(create_app(store), raise_server_exceptions=False) as client:
        yield client
    get_dsr_settings.cache_clear()


def _deliver(
    client: TestClient, topic: str, body: bytes | dict, *, webhook_id: str = "wh-1", triggered: datetime | None = None
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode(),
        "X-Shopify-Triggered-At": (triggered or datetime.now(UTC)).isoformat(),
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/shopify", content=raw, headers=headers)


DATA_REQUEST = {
    "shop_id": 954889,
    "shop_domain": "example-shop.myshopify.com",
    "orders_requested": [299938],
    "customer": {"id": 191167, "email": "john@example.com"},
    "data_request": {"id": 9999},
}
REDACT = {
    "shop_id": 954889,
    "shop_domain": "example-shop.myshopify.com",
    "customer": {"id": 191167, "email": "john@example.com"},
    "orders_to_redact": [299938],
}


def _requests(store: Store) -> list[tuple[str, str]]:
    with store.session() as session:
        return [(r.kind, r.external_ref or "") for r in session.scalars(select(DsrRequest))]


def test_a_data_request_body_under_the_redact_topic_is_refused(shopify: TestClient, store: Store) -> None:
    response = _deliver(shopify, "customers/redact", DATA_REQUEST, webhook_id="swap")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        "orders_to_redact: a customers/redact payload needs it as a JSON array"
    )
    assert _requests(store) == []
    reverse = _deliver(shopify, "customers/data_request", REDACT, webhook_id="swap-2")
    assert reverse.status_code == 400 and _requests(store) == []


def test_the_same_customer_and_topic_under_a_new_webhook_id_is_one_request(shopify: TestClient, store: Store) -> None:
    first = _deliver(shopify, "customers/redact", REDACT, webhook_id="wh-a")
    replayed = _deliver(shopify, "customers/redact", REDACT, webhook_id="wh-b")
    assert first.status_code == replayed.status_code == 200
    assert first.json()["request_id"] == replayed.json()["request_id"]
    other_topic = _deliver(shopify, "customers/data_request", DATA_REQUEST, webhook_id="wh-c")
    assert other_topic.json()["request_id"] != first.json()["request_id"]
    other_customer = {**REDACT, "customer": {"id": 191168, "email": "jane@example.com"}}
    assert _deliver(shopify, "customers/redact", other_customer, webhook_id="wh-d").status_code == 200
    assert sorted(_requests(store)) == [
        ("access", "shopify:wh-c"),
        ("erasure", "shopify:wh-a"),
        ("erasure", "shopify:wh-d"),
    ]


@pytest.mark.parametrize(
    ("triggered", "message"),
    [
        (timedelta(hours=-2), "X-Shopify-Triggered-At: older than the replay window (3600 s)"),
        (timedelta(hours=1), "X-Shopify-Triggered-At: in the future"),
    ],
)
def test_a_delivery_outside_the_replay_window_is_refused(
    shopify: TestClient, store: Store, triggered: timedelta, message: str
) -> None:
    response = _deliver(shopify, "customers/redact", REDACT, triggered=datetime.now(UTC) + triggered)
    assert response.status_code == 400 and response.json()["errors"][0]["message"] == message
    assert _requests(store) == []


def test_a_delivery_without_a_trigger_time_is_refused(shopify: TestClient, store: Store) -> None:
    raw = json.dumps(REDACT).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    response = shopify.post(
        "/webhooks/shopify",
        content=raw,
        headers={"X-Shopify-Topic": "customers/redact", "X-Shopify-Webhook-Id": "w", "X-Shopify-Hmac-Sha256": digest},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "X-Shopify-Triggered-At: missing or not an ISO 8601 time"


def _nested(depth: int) -> bytes:
    return b'{"customer":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("webhook_id", "body", "message"),
    [
        ("x" * 201, REDACT, "X-Shopify-Webhook-Id: must be at most 190 printable characters"),
        ("wh", {**REDACT, "customer": "john@example.com"}, "customer: a customers/redact payload needs it"),
        ("wh", {**REDACT, "customer": [191167]}, "customer: a customers/redact payload needs it"),
        ("wh", {**REDACT, "customer": {"id": {"$gt": 0}}}, "customer.id: must be a number or a string"),
        ("wh", {**REDACT, "customer": {"email": ["a@b.c"]}}, "customer.email: must be a string"),
        ("wh", {**REDACT, "shop_domain": 7}, "shop_domain: must be a string"),
        ("wh", _nested(100_000), "body: JSON nested too deeply"),
        ("wh", b"[1, 2]", "body: must be a JSON object"),
        ("wh", b"\xff\xfe", "body: not valid JSON"),
    ],
    ids=["long-id", "customer-str", "customer-list", "id-object", "email-list", "domain-int", "deep", "array", "bytes"],
)
def test_malformed_but_signed_deliveries_are_400(
    shopify: TestClient, store: Store, webhook_id: str, body: bytes | dict, message: str
) -> None:
    response = _deliver(shopify, "customers/redact", body, webhook_id=webhook_id)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(message)
    assert _requests(store) == []


def test_the_webhook_refuses_everything_while_its_secret_is_unset(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_SHOPIFY_API_SECRET", "")
    get_dsr_settings.cache_clear()
    with TestClient(create_app(store)) as client:
        for signature in ("", base64.b64encode(hmac.new(b"", b"{}", hashlib.sha256).digest()).decode()):
            response = client.post(
                "/webhooks/shopify",
                content=b"{}",
                headers={"X-Shopify-Topic": "shop/redact", "X-Shopify-Hmac-Sha256": signature},
            )
            assert response.status_code == 503
            assert "CDP_SHOPIFY_API_SECRET is not set" in response.json()["errors"][0]["message"]
    get_dsr_settings.cache_clear()
    assert _requests(store) == []


def test_an_oversized_body_is_refused_before_it_is_read_whole(shopify: TestClient, store: Store) -> None:
    """A chunked 300 MB upload (no Content-Length) is cut off at the limit: the app stops receiving there."""
    received = 0
    chunk = b"x" * 65_536

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": chunk, "more_body": received < 300 * 16}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/shopify",
        "headers": [(b"x-shopify-topic", b"shop/redact")],
        "query_string": b"",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "scheme": "http",
        "root_path": "",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    asyncio.run(create_app(store)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert received * len(chunk) <= 1_000_000 + len(chunk)  # one chunk past the limit, never 300 MB


# -- 4. The audit log's tail is anchored by signed checkpoints in the key store -----------------------------


@pytest.fixture
def every_commit(store: Store) -> None:
    """A checkpoint after every audited commit (CDP_AUDIT_CHECKPOINT_SECONDS=0), which these tests count on;
    spacing them is tested in tests/test_audit_checkpoints.py."""
    store.settings = store.settings.model_copy(update={"audit_checkpoint_seconds": 0})


def _audited_batches(store: Store, n: int) -> None:
    for i in range(n):  # one audit entry per batch
        ingest_all(store, event({"email": f"anchored{i}@example.com"}))


def _flat(output: str) -> str:
    """CLI output with the console's line wrapping undone."""
    return " ".join(output.split())


def _delete_entries(store: Store, where: str) -> None:
    """What the data database's owner can do: switch the append-only guard off and delete."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        conn.execute(text(f"DELETE FROM audit_entry WHERE {where}"))


@pytest.mark.parametrize(("where", "reason"), [("seq > 3", "entry 5 missing (log ends at seq 3)"),
                                               ("1 = 1", "entry 5 missing (log ends at seq 0)")])  # fmt: skip
def test_a_deleted_tail_fails_cdp_audit_verify_without_a_hand_kept_anchor(
    store: Store, cli_env: Settings, every_commit: None, where: str, reason: str
) -> None:
    _audited_batches(store, 5)
    _delete_entries(store, where)
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"anchor: {reason}: tail deleted" in _flat(result.output)


def test_an_intact_log_verifies_and_names_its_checkpoint(store: Store, cli_env: Settings, every_commit: None) -> None:
    _audited_batches(store, 3)
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "ok: 3 entries verified" in result.output and "(entry 3)" in result.output


def _checkpoint_rows(store: Store) -> list[tuple[int, str]]:
    with store.keystore.engine.connect() as conn:
        return [(r.seq, r.head_hash) for r in conn.execute(select(audit_checkpoint).order_by(audit_checkpoint.c.id))]


def test_the_server_checkpoints_every_audited_commit_in_the_key_store(store: Store, live: str) -> None:
    key = _admin_key(store)
    _ingest_over_http(live, key, [event({"email": "served@example.com"})])
    with store.session() as session:
        head = audit_lib.head(session)
    assert head is not None and _checkpoint_rows(store)[-1] == head
    with store.engine.connect() as conn:  # the data database holds no checkpoint table
        assert "audit_checkpoint" not in inspect(conn).get_table_names()


def test_concurrent_audited_commits_end_checkpointed(store: Store, every_commit: None) -> None:
    """Commits never wait for another thread's checkpoint, yet the last checkpoint covers the last commit."""
    access = AccessContext.operator("order_fulfillment")

    def commits() -> None:
        for _ in range(15):
            audit_now(store, access, operation="test", document="concurrent", outcome="allowed")

    threads = [threading.Thread(target=commits) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.session() as session:
        head = audit_lib.head(session)
    assert head is not None and head[0] == 90
    assert _checkpoint_rows(store)[-1] == head


def test_a_forged_checkpoint_is_refused(store: Store, cli_env: Settings, every_commit: None) -> None:
    _audited_batches(store, 3)
    _delete_entries(store, "seq > 1")
    with store.keystore.engine.begin() as conn:  # cover the cut with a checkpoint at seq 1: no valid signature
        conn.execute(update(audit_checkpoint).values(seq=1, head_hash="0" * 64))
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1 and "signature invalid, the key store was altered" in _flat(result.output)


def test_a_rewritten_tail_is_never_checkpointed(
    store: Store, cli_env: Settings, every_commit: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Entries deleted and new ones appended at the same seqs: the next checkpoint refuses to extend them."""
    _audited_batches(store, 4)
    _delete_entries(store, "seq > 2")
    _audited_batches(store, 3)  # appends seq 3..5 with other hashes; no new checkpoint may cover them
    assert "audit log does not extend the newest checkpoint: entry 4: changed since it was checkpointed" in caplog.text
    assert [seq for seq, _ in _checkpoint_rows(store)] == [1, 2, 3, 4]
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1 and "entry 4: hash differs from the anchor" in _flat(result.output)


@pytest.fixture
def roles(settings: Settings) -> Iterator[tuple[str, str]]:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("roles are a PostgreSQL matter")
    suffix = uuid.uuid4().hex[:8]
    names = (f"cdp_owner_{suffix}", f"cdp_app_{suffix}", f"cdp_member_{suffix}")
    yield names[0], names[1]
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        for name in names:
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}).first():
                conn.execute(text(f'REASSIGN OWNED BY "{name}" TO CURRENT_USER'))
                conn.execute(text(f'DROP OWNED BY "{name}"'))
                conn.execute(text(f'DROP ROLE "{name}"'))
    engine.dispose()


def _as(settings: Settings, role: str, **changes: Any) -> Settings:
    url = make_url(settings.database_url).set(username=role).render_as_string(hide_password=False)
    return settings.model_copy(update={"database_url": url, **changes})


def test_production_refuses_a_superuser_and_the_audit_table_owner(
    settings: Settings, cli_env: Settings, roles: tuple[str, str]
) -> None:
    owner, app_role = roles
    created = runner.invoke(cli, ["db", "upgrade", "--create-roles", "--owner-role", owner, "--app-role", app_role])
    assert created.exit_code == 0, created.output
    with pytest.raises(DatabaseRoleError, match=r"role 'postgres', a superuser"):
        Store.open(settings.model_copy(update={"env": "production"}))
    member = owner.replace("owner", "member")
    with make_engine(settings.database_url).begin() as conn:
        conn.execute(text(f'CREATE ROLE "{member}" LOGIN IN ROLE "{owner}"'))
    with pytest.raises(DatabaseRoleError, match=f"the owner of the audit table \\({owner}\\)"):
        Store.open(_as(settings, member, env="production"))

    app_store = Store.open(_as(settings, app_role, env="production"))  # the application role is accepted
    try:
        [outcome] = ingest_all(app_store, event({"email": "roles@example.com"}))
        assert outcome.status == "stored"
        for statement in (
            "DELETE FROM audit_entry",
            "ALTER TABLE audit_entry DISABLE TRIGGER USER",
            "SET session_replication_role = replica",
            "DROP TABLE audit_entry",
        ):
            with (
                app_store.engine.connect() as conn,
                pytest.raises(ProgrammingError, match="permission denied|must be owner"),
            ):
                conn.execute(text(statement))
    finally:
        app_store.close()


def test_the_application_role_makes_and_drops_event_partitions_only_through_the_two_functions(
    settings: Settings, cli_env: Settings, roles: tuple[str, str]
) -> None:
    """The app role does not own the event table, so it cannot run DDL on it; the SECURITY DEFINER functions of
    migration 0014 (owned by the owner role after --create-roles) make and drop a month's partition for it."""
    owner, app_role = roles
    created = runner.invoke(cli, ["db", "upgrade", "--create-roles", "--owner-role", owner, "--app-role", app_role])
    assert created.exit_code == 0, created.output
    today = date(2026, 3, 1)
    app_store = Store.open(_as(settings, app_role))
    try:
        ingest_all(app_store, order({"email": "roles@example.com"}, occurred_at="2018-01-10T10:00:00+00:00"))
        assert date(2018, 1, 1) in app_store.run(lambda s: ensure_partitions(s, today))
        with app_store.engine.connect() as conn:
            owners = conn.execute(text("SELECT tableowner FROM pg_tables WHERE tablename LIKE 'event_20%'"))
            assert set(owners.scalars()) == {owner}
            with pytest.raises(ProgrammingError, match="must be owner"):
                conn.execute(text("DROP TABLE event_2026_03"))
        retention = AccessContext.operator("legal_compliance")
        report = app_store.run(lambda s: run_retention(s, app_store, retention, dry_run=False, today=today))
        assert report.months_dropped == [date(2018, 1, 1)] and report.expired == 1
    finally:
        app_store.close()


def test_a_slow_read_does_not_stall_other_graphql_requests(
    store: Store, live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every GraphQL request runs in the thread pool: while one read is held inside its resolver, another
    GraphQL request (not only /healthz) is answered."""
    from cdp.profiles import service as profiles

    [customer] = ingest_all(store, event({"email": "held@example.com"}, traits={"first_name": "Hana"}))
    entered, release = _hold(monkeypatch, profiles, "customers")
    headers = {"Authorization": f"Bearer {_admin_key(store)}", "X-CDP-Purpose": "support"}
    page: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: page.append(
            httpx.post(f"{live}/graphql", json={"query": "{ profiles(first: 5) { nodes { id } } }"},
                       headers=headers, timeout=60)
        )
    )  # fmt: skip
    worker.start()
    try:
        assert entered.wait(30)
        lookup = {
            "query": "query($id: ID!) { profile(id: $id) { firstName } }",
            "variables": {"id": customer.profile_id},
        }
        other = httpx.post(f"{live}/graphql", json=lookup, headers=headers, timeout=10)
        assert other.json()["data"]["profile"]["firstName"] == "Hana"
    finally:
        release.set()
        worker.join()
    assert page[0].json()["data"]["profiles"]["nodes"] == [{"id": customer.profile_id}]


def test_serve_with_several_worker_processes(key_file_env: dict[str, str], tmp_path: Path) -> None:
    """`cdp serve --workers 2`: two server processes, each with its own store, answering the same API."""
    with _cdp_serve(key_file_env, tmp_path, "--workers", "2") as (server, base, key):
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(children) >= 2, children  # uvicorn's supervisor and its worker processes
        events = [event({"email": f"w{i}@example.com"}, traits={"city": f"Town {i}"}) for i in range(6)]
        outcomes = [_ingest_over_http(base, key, [e])[0] for e in events]  # spread over the processes
        assert {o["status"] for o in outcomes} == {"stored"}
    reopened = Store.open(get_settings())
    try:
        with reopened.session() as session:
            for e, outcome in zip(events, outcomes, strict=True):
                assert reads.traits(session, reopened, outcome["profileId"])["city"].value == e["traits"]["city"]
    finally:
        reopened.close()


def test_worker_connections_send_without_waiting_for_acks() -> None:
    """The socket `cdp serve --workers N` listens on has TCP_NODELAY, and so has every connection accepted from
    it: a response's body leaves with its head instead of waiting for the client's delayed ACK."""
    config = uvicorn.Config("cdp.api.app:app_from_environment", factory=True, host="127.0.0.1", port=0)
    with listener(config) as sock:
        sock.listen()
        with socket.create_connection(sock.getsockname()), sock.accept()[0] as accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
