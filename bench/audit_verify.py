"""Benchmark: how fast `audit.verify` walks the hash chain, against a plain streaming SELECT of the same rows.

    python bench/audit_verify.py [--entries 200000] [--batch-size 10000] [--repeats 5]

Builds a throw-away SQLite database with N chained entries (bulk insert, hashes computed by the documented
definition), then runs verify() and the baseline once per round, `--repeats` rounds interleaved so load on
the machine hits both alike, and prints the median and spread of entries/s and the ratio of the medians.
The baseline is the same work minus the thing measured: the same 14 columns of the same rows, in seq order,
with the same yield_per batches, each row fetched (column types converted) but nothing hashed or compared.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, create_engine, insert, select
from sqlmodel import SQLModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ helpers; audit without `pip install -e .`

import audit  # noqa: E402
from audit.canonical import GENESIS_HASH, compute_entry_hash, dumps_list  # noqa: E402
from bench._rounds import interleaved  # noqa: E402
from bench._stats import rates  # noqa: E402

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


def verify(engine: Engine, batch_size: int) -> audit.VerifyResult:
    with engine.connect() as conn:
        return audit.verify(conn, batch_size=batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'audit.db'}")
        t0 = time.perf_counter()
        build(engine, args.entries)
        print(f"built {args.entries:,} chained entries in {time.perf_counter() - t0:.1f} s (one run, set-up)")
        result, rows = verify(engine, args.batch_size), baseline(engine, args.batch_size)  # also warms the cache
        seconds = interleaved(
            {
                "verify": partial(verify, engine, args.batch_size),
                "baseline": partial(baseline, engine, args.batch_size),
            },
            args.repeats,
        )
        engine.dispose()

    n = result.entries_checked
    checked, streamed = rates(n, seconds["verify"].values), rates(rows, seconds["baseline"].values)
    print(f"{args.repeats} interleaved rounds; median (min–max, n)")
    print(f"verify:   {n:,} entries (ok={result.ok}): {checked.show(digits=0)} entries/s")
    print(f"baseline: {rows:,} rows, plain streaming SELECT: {streamed.show(digits=0)} rows/s")
    print(f"ratio verify/baseline (time, medians): {seconds['verify'].median / seconds['baseline'].median:.2f}x")


if __name__ == "__main__":
    main()
