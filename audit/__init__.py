"""Hash-chained, append-only audit log of operations on personal data.

Knows nothing of `cdp` or `consent`; every function takes the caller's Session (or Connection) and never
commits: the caller owns the transaction, so an operation and its audit entry commit or fail together.
"""

from audit.canonical import GENESIS_HASH, compute_entry_hash, hash_document
from audit.chain import AuditError, VerifyResult, append, head, verify, verify_jsonl, verify_since
from audit.checkpoint import Checkpoint, empty_checkpoint, is_authentic, sign
from audit.guard import (
    POSTGRES_APPEND_ONLY_DOWNGRADE_SQL,
    POSTGRES_APPEND_ONLY_SQL,
    install_append_only_guard,
)
from audit.models import AuditEntry
from audit.read import export_jsonl, query

__all__ = [
    "GENESIS_HASH",
    "POSTGRES_APPEND_ONLY_DOWNGRADE_SQL",
    "POSTGRES_APPEND_ONLY_SQL",
    "AuditEntry",
    "AuditError",
    "Checkpoint",
    "VerifyResult",
    "append",
    "compute_entry_hash",
    "empty_checkpoint",
    "export_jsonl",
    "hash_document",
    "head",
    "install_append_only_guard",
    "is_authentic",
    "query",
    "sign",
    "verify",
    "verify_jsonl",
    "verify_since",
]
