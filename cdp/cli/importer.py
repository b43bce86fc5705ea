"""File import (JSONL events, CSV customer lists) through the one ingest service, in batches, in one process or
several (`cdp import --workers M`).

A bad line is reported with its line number and reason; every good line is stored. The batches queue the
customers they touch for a computed-traits refresh instead of refreshing them each time (a customer whose events
are spread over the file would be recomputed once per batch); the import refreshes the queue before it returns,
so what it stored is reflected in computed traits when `cdp import` ends (`cdp worker` drains what an import cut
short left queued).
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.util import Finalize
from pathlib import Path

from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.connectors.amazon import amazon_records
from cdp.dictionary import dictionary
from cdp.identity.rules import InvalidIdentifier, normalize, placeholder_reason
from cdp.ingest.service import INGEST_ATTEMPTS, IngestOutcome, ingest
from cdp.settings import Settings
from cdp.store import Store
from cdp.traits.service import drain_refreshes

BATCH_SIZE = 500  # lines per batch when not told otherwise (`cdp import --batch-size`'s help says it too)
# The cyclic garbage collector's first threshold while importing (Python's default is 700 allocations): a batch
# allocates hundreds of thousands of short-lived objects, nearly all freed by reference counting, and at 700 the
# collector ran ~100 times per batch, ~0.16 ms per event (bench/ingest.py). Cycles are still collected.
IMPORT_GC_THRESHOLD = 50_000


@dataclass
class LineError:
    line: int
    errors: list[str]


@dataclass
class ImportReport:
    lines: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: list[LineError] = field(default_factory=list)
    merges: int = 0
    review_items: int = 0
    profiles: set[str] = field(default_factory=set)


def import_file(
    store: Store,
    path: Path,
    *,
    access: AccessContext,
    fmt: str | None = None,
    source: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    workers: int = 1,
    batch_size: int | None = None,
) -> ImportReport:
    """Read the file in batches and store each through the one ingest service, in its own transaction; with
    `workers` > 1, in that many processes at once (`_in_processes`)."""
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if fmt == "csv" and not source:
        raise ValueError("a CSV customer list needs --source (the system it came from, e.g. shopify)")
    if fmt not in ("csv", "jsonl", "amazon"):
        raise ValueError(f"--format: unknown format {fmt!r}; expected jsonl, csv or amazon")
    if workers < 1:
        raise ValueError("--workers: at least 1")
    records: Callable[[], Iterator[tuple[int, object]]] = {
        "csv": lambda: _csv_records(path, source or ""),
        "jsonl": lambda: _jsonl_records(path),
        "amazon": lambda: _amazon_records(path),
    }[fmt]
    report = ImportReport()

    def done(batch: Batch, outcomes: list[IngestOutcome]) -> None:
        _record(report, batch, outcomes, on_progress)

    with _fewer_collections():
        if workers == 1:
            for batch in _batches(records(), batch_size or BATCH_SIZE):
                done(batch, _ingest(store, access, batch))
        else:
            _in_processes(store.settings, access, records, workers, batch_size or BATCH_SIZE, done)
        while store.run(lambda s: drain_refreshes(s, store), attempts=INGEST_ATTEMPTS):
            pass
    report.rejected.sort(key=lambda e: e.line)
    return report


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The garbage collector at IMPORT_GC_THRESHOLD while the import runs, then as it was."""
    before = gc.get_threshold()
    gc.set_threshold(IMPORT_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


Batch = list[tuple[int, object]]  # (line number, parsed record or LineError)


def _batches(lines: Iterator[tuple[int, object]], size: int) -> Iterator[Batch]:
    batch: Batch = []
    for item in lines:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _ingest(store: Store, access: AccessContext, batch: Batch) -> list[IngestOutcome]:
    """The batch's good records through the ingest service, one transaction (run again after losing a race)."""
    good = [r for _, r in batch if not isinstance(r, LineError)]
    return store.run(lambda s: ingest(s, store, access, good, traits="queue"), attempts=INGEST_ATTEMPTS)


def _record(
    report: ImportReport, batch: Batch, outcomes: list[IngestOutcome], on_progress: Callable[[int], None] | None
) -> None:
    good = [(n, r) for n, r in batch if not isinstance(r, LineError)]
    for (line, _), outcome in zip(good, outcomes, strict=True):
        if outcome.status == "rejected":
            report.rejected.append(LineError(line, outcome.errors))
        else:
            report.stored += outcome.status == "stored"
            report.duplicates += outcome.status == "duplicate"
            report.merges += len(outcome.merged_profile_ids)
            report.review_items += outcome.review_item_id is not None
            report.profiles.add(outcome.profile_id or "")
    report.rejected.extend(r for _, r in batch if isinstance(r, LineError))
    report.lines += len(batch)
    if on_progress:
        on_progress(len(batch))


def _in_processes(
    settings: Settings,
    access: AccessContext,
    records: Callable[[], Iterator[tuple[int, object]]],
    workers: int,
    size: int,
    done: Callable[[Batch, list[IngestOutcome]], None],
) -> None:
    """Batches to `workers` processes, each with its own store; the file is read here (twice: first to learn
    which lines belong together). Lines joined by an identifier go to the same process, in file order, so
    batches running at the same time seldom meet on a new identifier or a merge: when they do, they collide on a
    unique key (or a merge's precondition) and the loser runs again (`Store.run(..., attempts=INGEST_ATTEMPTS)`),
    seeing the winner's rows. On SQLite the processes prepare in parallel and take turns to write.
    Spawned, not forked: a forked child would share this process's open database connections (and the threads
    of a progress bar)."""
    route = _Router(records(), workers)
    context = multiprocessing.get_context("spawn")
    with ExitStack() as stack:
        pools = [
            stack.enter_context(
                ProcessPoolExecutor(1, mp_context=context, initializer=_open_worker, initargs=(settings,))
            )
            for _ in range(workers)
        ]
        running: list[dict[Future[list[IngestOutcome]], Batch]] = [{} for _ in range(workers)]
        filling: list[Batch] = [[] for _ in range(workers)]

        def collect(worker: int, keep: int) -> None:
            while len(running[worker]) > keep:
                finished, _ = wait(running[worker], return_when=FIRST_COMPLETED)
                for future in finished:
                    done(running[worker].pop(future), future.result())

        def send(worker: int) -> None:
            collect(worker, 1)  # one batch running and one waiting per process: the file is never held whole
            batch, filling[worker] = filling[worker], []
            running[worker][pools[worker].submit(_ingest_in_worker, access.principal, access.purpose, batch)] = batch

        for line, record in records():
            if isinstance(record, LineError):
                done([(line, record)], [])
                continue
            worker = route(record)
            filling[worker].append((line, record))
            if len(filling[worker]) >= size:
                send(worker)
        for worker in range(workers):
            if filling[worker]:
                send(worker)
        for worker in range(workers):
            collect(worker, 0)


class _Router:
    """Which process a record goes to. Records that share an identifier (normalized as identity resolution
    normalizes it; placeholders, which link nothing, left out), directly or through other records, form one
    group, and a group goes to one process; a record with no usable identifier to the next in turn."""

    def __init__(self, records: Iterator[tuple[int, object]], workers: int) -> None:
        self.workers, self.turn = workers, 0
        self.parent: dict[tuple[str, str], tuple[str, str]] = {}
        for _, record in records:
            keys = self._keys(record)
            for key in keys:
                self.parent.setdefault(key, key)
            for a, b in zip(keys, keys[1:], strict=False):
                self.parent[self._find(b)] = self._find(a)

    def __call__(self, record: object) -> int:
        keys = self._keys(record)
        if not keys:
            self.turn += 1
            return self.turn % self.workers
        return hash(self._find(keys[0])) % self.workers

    def _find(self, key: tuple[str, str]) -> tuple[str, str]:
        while (up := self.parent[key]) != key:
            self.parent[key] = self.parent[up]  # path halving: later look-ups take shorter walks
            key = up
        return key

    @staticmethod
    def _keys(record: object) -> list[tuple[str, str]]:
        identifiers = record.get("identifiers") if isinstance(record, dict) else None
        if not isinstance(identifiers, dict):
            return []
        country = record.get("country") if isinstance(record, dict) else None
        keys = []
        for kind, value in identifiers.items():
            try:
                normalized = normalize(str(kind), value, country if isinstance(country, str) else None)
            except InvalidIdentifier:
                continue
            if placeholder_reason(str(kind), normalized) is None:
                keys.append((str(kind), normalized))
        return keys


_worker_store: Store | None = None  # one per worker process, opened when the process starts


def _open_worker(settings: Settings) -> None:
    global _worker_store
    gc.set_threshold(IMPORT_GC_THRESHOLD, *gc.get_threshold()[1:])  # the process only imports
    _worker_store = Store.open(settings)
    Finalize(_worker_store, _worker_store.close, exitpriority=10)  # closed when the pool shuts the process down


def _ingest_in_worker(principal: Principal, purpose: str, batch: Batch) -> list[IngestOutcome]:
    assert _worker_store is not None, "the pool's initializer opens the store"
    return _ingest(_worker_store, AccessContext.for_principal(principal, purpose), batch)


def _jsonl_records(path: Path) -> Iterator[tuple[int, object]]:
    with path.open(encoding="utf-8", errors="strict") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, LineError(number, [f"malformed JSON: {exc.msg} at column {exc.colno}"])
            except RecursionError:
                yield number, LineError(number, ["malformed JSON: nested too deeply"])


def _amazon_records(path: Path) -> Iterator[tuple[int, object]]:
    for number, record in amazon_records(path):
        yield number, LineError(number, record) if isinstance(record, list) else record


def _csv_records(path: Path, source: str) -> Iterator[tuple[int, object]]:
    """Each row of a customer list becomes an `identify` event: identifier columns are identifiers, other
    columns traits. Without an `id` column, rows are keyed by the file's hash and line number, so
    re-importing the same file stores nothing twice."""
    raw = path.read_bytes()
    file_key = hashlib.sha256(raw).hexdigest()[:12]
    kinds, reserved = set(dictionary().identifiers), {"id", "occurred_at"}
    now = datetime.now(UTC).isoformat()
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    for row in reader:
        number = reader.line_num
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        yield (
            number,
            {
                "source": source,
                "source_event_id": row.get("id") or f"csv-{file_key}-{number}",
                "type": "identify",
                "occurred_at": row.get("occurred_at") or now,
                "country": row.get("country") or None,
                "identifiers": {k: v for k, v in row.items() if k in kinds and v},
                "traits": {k: v for k, v in row.items() if k not in kinds | reserved and v},
            },
        )
