"""The canonical serialization an entry's hash covers, shared by writers, verifiers and exporters.

    entry_hash = sha256(json.dumps([seq, id, occurred_at, actor, role, purpose, operation, document_hash,
                                    outcome, detail, prev_hash, subject_ids, categories],
                                   separators=(",", ":")).encode()).hexdigest()

with `occurred_at` as ISO 8601 UTC with microseconds (`2024-05-01T12:00:00.000000+00:00`) and the two lists
sorted and de-duplicated; json's default `ensure_ascii=True` makes the bytes ASCII. An auditor can recompute
it from an `export_jsonl` line with nothing but the standard library (`compute_entry_hash`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

GENESIS_HASH = "0" * 64
# One encoder instance: json.dumps(..., separators=...) would build a new one per call, a third of the cost.
_encode = json.JSONEncoder(separators=(",", ":")).encode
# Hash order: scalars first, then the two lists, so stored JSON text can be spliced in without re-parsing.
HASHED_FIELDS = (
    "seq", "id", "occurred_at", "actor", "role", "purpose", "operation", "document_hash",
    "outcome", "detail", "prev_hash", "subject_ids", "categories",
)  # fmt: skip
# Export order: how a human reads an entry.
RECORD_FIELDS = (
    "seq", "id", "occurred_at", "actor", "role", "purpose", "operation", "document_hash",
    "subject_ids", "categories", "outcome", "detail", "prev_hash", "entry_hash",
)  # fmt: skip


def hash_document(document: str) -> str:
    """sha256 hex of a query document or command line, for `document_hash`."""
    return hashlib.sha256(document.encode()).hexdigest()


def dumps_list(values: Iterable[str]) -> str:
    """The stored (and hashed) JSON text of a list field: sorted, de-duplicated, compact."""
    return _encode(sorted(set(values)))


def loads_list(text: str) -> list[str]:
    return json.loads(text)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def hash_stored(scalars: list[Any], subject_ids_text: str, categories_text: str) -> str:
    """Entry hash from the scalar fields (HASHED_FIELDS order, `occurred_at` already ISO) and the stored
    list texts. Splicing the stored text is what makes `verify` fast: no JSON parsing per row."""
    head = _encode(scalars)
    return hashlib.sha256(f"{head[:-1]},{subject_ids_text},{categories_text}]".encode()).hexdigest()


def compute_entry_hash(record: Mapping[str, Any]) -> str:
    """Entry hash of an exported record (lists as lists, `occurred_at` as the ISO string), by definition."""
    payload = _encode([record[name] for name in HASHED_FIELDS])
    return hashlib.sha256(payload.encode()).hexdigest()


class FieldValues(Protocol):
    """Values looked up by field name: a dict, or a SQLAlchemy row mapping (whose keys may also be columns)."""

    def __getitem__(self, name: str, /) -> Any: ...


def to_record(values: FieldValues) -> dict[str, Any]:
    """JSON-ready dict of an entry, from a row mapping or `model_dump()`."""
    record = {name: values[name] for name in RECORD_FIELDS}
    record["occurred_at"] = iso_utc(values["occurred_at"])
    record["subject_ids"] = loads_list(values["subject_ids"])
    record["categories"] = loads_list(values["categories"])
    return record
