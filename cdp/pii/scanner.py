"""Leak scanner: find personal data stored in plaintext anywhere in a database.

Every table is reflected, every text-like column (VARCHAR, TEXT, JSON) is read in batches and analyzed;
binary columns are skipped because they hold ciphertext. A finding names the table, column, row and entity
type, never the value, so the report itself leaks nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cdp.db import partition_names
from cdp.pii.analyzer import analyze_batch
from cdp.pii.findings import DEFAULT_SCORE_THRESHOLD


@dataclass(frozen=True, slots=True)
class ScanFinding:
    """Personal data found in one cell: where and what kind, never the value."""

    table: str
    column: str
    row_id: str  # primary-key value(s), comma-joined; "#n" (scan order) for a table without a primary key
    entity_type: str
    score: float


def scan_database(
    engine: Engine,
    *,
    exclude: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
    batch_size: int = 500,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
) -> list[ScanFinding]:
    """Scan every plaintext text-like column of every table; `exclude` holds (table, column) pairs to skip.

    One finding per (table, column, row, entity type), with the best score among the cell's matches.
    """
    found: dict[tuple[str, str, str, str], float] = {}
    with engine.connect() as conn:
        partitions = partition_names(conn)  # read through their parent, once
        metadata = sa.MetaData()
        metadata.reflect(bind=conn, only=lambda name, _: name not in partitions)
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if _is_text(c.type) and (table.name, c.name) not in exclude]
            if not columns:
                continue
            pk = list(table.primary_key.columns)
            # A key that holds an `id` is named by it alone (the event's also holds occurred_at, for partitions).
            pk = [c for c in pk if c.name == "id"] or pk
            selected = [sa.cast(c, sa.Text) if isinstance(c.type, sa.JSON) else c for c in columns]
            stmt = sa.select(*pk, *selected)
            result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(stmt)
            ordinal = 0
            for rows in result.partitions(batch_size):
                ids = []
                for row in rows:
                    ordinal += 1
                    ids.append(",".join(_id_text(v) for v in row[: len(pk)]) if pk else f"#{ordinal}")
                for index, column in enumerate(columns):
                    cells = [
                        (row_id, text)
                        for row_id, row in zip(ids, rows, strict=True)
                        for text in _texts(row[len(pk) + index], is_json=isinstance(column.type, sa.JSON))
                    ]
                    # The column name is context: a bare 11-digit number in a column named "cpf" is a CPF.
                    results = analyze_batch(
                        [text for _, text in cells], score_threshold=score_threshold, context=[column.name]
                    )
                    for (row_id, _), findings in zip(cells, results, strict=True):
                        for finding in findings:
                            key = (table.name, column.name, row_id, finding.entity_type)
                            found[key] = max(found.get(key, 0.0), finding.score)
    return [ScanFinding(*key, score) for key, score in sorted(found.items())]


def _is_text(type_: sa.types.TypeEngine[Any]) -> bool:
    # Enum values are a closed vocabulary, never personal data; LargeBinary (BLOB/bytea) is ciphertext.
    return isinstance(type_, sa.String | sa.JSON) and not isinstance(type_, sa.Enum)


def _id_text(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def _texts(value: object, *, is_json: bool) -> Iterator[str]:
    """The strings of a cell: the value itself, or every key and string/integer leaf of a JSON document.

    A JSON leaf is rendered as "key: value" so its key works as a context word ({"cpf": "..."}).
    """
    if not isinstance(value, str) or not value:
        return  # NULL, or bytes that SQLite's dynamic typing let into a text column
    if not is_json:
        yield value
        return
    try:
        document = json.loads(value)
    except ValueError:
        yield value  # not valid JSON after all: scan it as text
        return
    yield from _json_strings(document, "")


def _json_strings(node: object, key: str) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _json_strings(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _json_strings(item, key)
    elif isinstance(node, str | int) and not isinstance(node, bool) and node != "":
        # Integers too: a phone number or CPF stored as a JSON number is still one.
        yield f"{key}: {node}" if key else str(node)
