"""File import (JSONL events, CSV customer lists) through the one ingest service, in batches.

A bad line is reported with its line number and reason; every good line is stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cdp.access.gate import AccessContext
from cdp.connectors.amazon import amazon_records
from cdp.dictionary import dictionary
from cdp.ingest.service import INGEST_ATTEMPTS, ingest
from cdp.store import Store

BATCH_SIZE = 500


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
) -> ImportReport:
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if fmt == "csv" and not source:
        raise ValueError("a CSV customer list needs --source (the system it came from, e.g. shopify)")
    if fmt not in ("csv", "jsonl", "amazon"):
        raise ValueError(f"--format: unknown format {fmt!r}; expected jsonl, csv or amazon")
    lines = {
        "csv": lambda: _csv_records(path, source or ""),
        "jsonl": lambda: _jsonl_records(path),
        "amazon": lambda: _amazon_records(path),
    }[fmt]()
    report = ImportReport()
    batch: list[tuple[int, object]] = []
    for item in lines:
        batch.append(item)
        if len(batch) >= BATCH_SIZE:
            _flush(store, batch, report, access, on_progress)
    _flush(store, batch, report, access, on_progress)
    return report


def _flush(
    store: Store,
    batch: list[tuple[int, object]],
    report: ImportReport,
    access: AccessContext,
    on_progress: Callable[[int], None] | None,
) -> None:
    if not batch:
        return
    parse_errors = {n: r.errors for n, r in batch if isinstance(r, LineError)}
    good = [(n, r) for n, r in batch if not isinstance(r, LineError)]
    outcomes = store.run(lambda s: ingest(s, store, access, [r for _, r in good]), attempts=INGEST_ATTEMPTS)
    for (line, _), outcome in zip(good, outcomes, strict=True):
        if outcome.status == "rejected":
            report.rejected.append(LineError(line, outcome.errors))
        else:
            report.stored += outcome.status == "stored"
            report.duplicates += outcome.status == "duplicate"
            report.merges += len(outcome.merged_profile_ids)
            report.review_items += outcome.review_item_id is not None
            report.profiles.add(outcome.profile_id or "")
    report.rejected.extend(LineError(n, e) for n, e in parse_errors.items())
    report.rejected.sort(key=lambda e: e.line)
    report.lines += len(batch)
    if on_progress:
        on_progress(len(batch))
    batch.clear()


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
