"""File import (JSONL events, CSV customer lists) through the one ingest service, in batches, in one process or
several (`cdp import --workers M`).

A bad line is reported with its line number and reason; every good line is stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.util import Finalize
from pathlib import Path

from cdp.access.gate import AccessContext
from cdp.auth.service import Principal
from cdp.connectors.amazon import amazon_records
from cdp.dictionary import dictionary
from cdp.ingest.service import INGEST_ATTEMPTS, IngestOutcome, ingest
from cdp.settings import Settings
from cdp.store import Store

BATCH_SIZE = 500  # lines per batch when not told otherwise (`cdp import --batch-size`'s help says it too)


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
    """Read the file in batches and store each through the one ingest service, in its own transaction. With
    `workers` > 1 the batches go to that many processes, each with its own store: the file is read and parsed
    here, validation, resolution, encryption and the writes run in parallel. Concurrent batches that meet on a
    new identifier, a re-sent event or a merge collide on a unique key (or a merge's precondition) and the
    loser runs again (`Store.run(..., attempts=INGEST_ATTEMPTS)`), seeing the winner's rows. On SQLite the
    workers prepare in parallel and take turns to write (one writer at a time)."""
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if fmt == "csv" and not source:
        raise ValueError("a CSV customer list needs --source (the system it came from, e.g. shopify)")
    if fmt not in ("csv", "jsonl", "amazon"):
        raise ValueError(f"--format: unknown format {fmt!r}; expected jsonl, csv or amazon")
    if workers < 1:
        raise ValueError("--workers: at least 1")
    lines = {
        "csv": lambda: _csv_records(path, source or ""),
        "jsonl": lambda: _jsonl_records(path),
        "amazon": lambda: _amazon_records(path),
    }[fmt]()
    report = ImportReport()
    batches = _batches(lines, batch_size or BATCH_SIZE)
    if workers == 1:
        for batch in batches:
            _record(report, batch, _ingest(store, access, batch), on_progress)
    else:
        _in_processes(store.settings, access, batches, workers, lambda b, o: _record(report, b, o, on_progress))
    report.rejected.sort(key=lambda e: e.line)
    return report


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
    return store.run(lambda s: ingest(s, store, access, good), attempts=INGEST_ATTEMPTS)


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
    batches: Iterator[Batch],
    workers: int,
    done: Callable[[Batch, list[IngestOutcome]], None],
) -> None:
    """Each batch to the next free process; at most two per process wait, so a large file is never held whole.
    Spawned, not forked: a forked child would share the parent's open database connections."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_open_worker, initargs=(settings,)) as pool:
        pending: dict[Future[list[IngestOutcome]], Batch] = {}
        for batch in batches:
            if len(pending) >= 2 * workers:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    done(pending.pop(future), future.result())
            pending[pool.submit(_ingest_in_worker, access.principal, access.purpose, batch)] = batch
        for future in as_completed(pending):
            done(pending[future], future.result())


_worker_store: Store | None = None  # one per worker process, opened when the process starts


def _open_worker(settings: Settings) -> None:
    global _worker_store
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
