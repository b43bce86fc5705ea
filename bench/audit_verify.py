"""Benchmark: how fast `audit.verify` walks the hash chain, against a plain streaming SELECT of the same rows.

    python bench/audit_verify.py [--entries 200000] [--batch-size 10000]

Builds a throw-away SQLite database with N chained entries (bulk insert, hashes computed by the documented
definition), then times verify() and the baseline, and prints entries/s and the ratio. No assertions.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, insert, select
from sqlmodel import SQLModel

try:
    import audit
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import audit
from audit.canonical import GENESIS_HASH, compute_entry_hash, dumps_list

TABLE = audit.AuditEntry.__table__  # type: ignore[attr-defined]


def build(engine: Engine, entries: int, chunk: int = 10_000) -> None:
    SQLModel.metadata.create_all(engine, tables=[TABLE])
    start, prev = datetime(2025, 1, 1, tzinfo=UTC), GENESIS_HASH
    with engine.begin() as conn:
        for base in range(1, entries + 1, chunk):
            rows = []
            for seq in range(base, min(base + chunk, entries + 1)):
                record = {
                    "seq": seq,
                    "id": str(uuid.uuid4()),
                    "occurred_at": (start + timedelta(milliseconds=seq)).isoformat(timespec="microseconds"),
                    "actor": f"key_{seq % 7}",
                    "role": "marketing",
                    "purpose": "marketing.email",
                    "operation": "SegmentExport",
                    "document_hash": audit.hash_document(f"query {seq % 13}"),
                    "outcome": "allowed",
                    "detail": "",
                    "prev_hash": prev,
                    "subject_ids": sorted(str(uuid.UUID(int=seq * 3 + i)) for i in range(3)),
                    "categories": ["user.contact.email", "user.name"],
                }
                prev = compute_entry_hash(record)
                record.update(
                    entry_hash=prev,
                    occurred_at=datetime.fromisoformat(record["occurred_at"]),
                    subject_ids=dumps_list(record["subject_ids"]),
                    categories=dumps_list(record["categories"]),
                )
                rows.append(record)
            conn.execute(insert(TABLE), rows)


def baseline(engine: Engine, batch_size: int) -> int:
    """Stream the same columns in the same order, touching each row but hashing nothing."""
    count = 0
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=batch_size).execute(select(*TABLE.columns).order_by(TABLE.c.seq))
        for _row in rows:
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'audit.db'}")
        t0 = time.perf_counter()
        build(engine, args.entries)
        print(f"built {args.entries:,} chained entries in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        with engine.connect() as conn:
            result = audit.verify(conn, batch_size=args.batch_size)
        verify_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = baseline(engine, args.batch_size)
        base_s = time.perf_counter() - t0
        engine.dispose()

    n = result.entries_checked
    print(f"verify:   {n:,} entries in {verify_s:.3f} s = {n / verify_s:,.0f} entries/s (ok={result.ok})")
    print(f"baseline: {rows:,} rows (plain streaming SELECT) in {base_s:.3f} s = {rows / base_s:,.0f} rows/s")
    print(f"ratio verify/baseline (time): {verify_s / base_s:.2f}x")


if __name__ == "__main__":
    main()
