"""PII detection: offline presidio analysis with cross-border recognizers, redaction and a leak scanner.

Importing this package does not load presidio; the analyzer is built on the first analysis.
"""

from cdp.pii.analyzer import analyze, analyze_batch, classify_value
from cdp.pii.findings import DEFAULT_SCORE_THRESHOLD, ENTITY_CATEGORIES, Finding
from cdp.pii.redact import redact
from cdp.pii.scanner import ScanFinding, scan_database

__all__ = [
    "DEFAULT_SCORE_THRESHOLD",
    "ENTITY_CATEGORIES",
    "Finding",
    "ScanFinding",
    "analyze",
    "analyze_batch",
    "classify_value",
    "redact",
    "scan_database",
]
