"""Replace detected entities by their type, e.g. "mail me at <EMAIL_ADDRESS>"."""

from __future__ import annotations

from cdp.pii.analyzer import analyze
from cdp.pii.findings import Finding


def redact(text: str, findings: list[Finding] | None = None) -> str:
    """`text` with every finding replaced by `<ENTITY_TYPE>`; analyzes `text` when findings is None.

    Overlapping findings (possible when passed in) are redacted once: the one that starts first wins.
    """
    if findings is None:
        findings = analyze(text)
    parts: list[str] = []
    cursor = 0
    for finding in sorted(findings, key=lambda f: (f.start, -f.end)):
        if finding.start < cursor:
            continue
        parts += [text[cursor : finding.start], f"<{finding.entity_type}>"]
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)
