"""Offline PII analysis: one presidio AnalyzerEngine per process, built on first use.

Importing this module is cheap; presidio, spaCy and the recognizers load when the first text is analyzed.

NLP engine: presidio's `no_op` engine (no model, no tokens) with pattern/checksum recognizers, and a
character-window context enhancer (`recognizers.WindowContextEnhancer`) in place of the lemma-based one,
so context words work without lemmas and in scripts without spaces. When `CDP_SPACY_MODEL` names an
installed spaCy model (package name or directory), that model runs instead and adds NER entities
(PERSON, LOCATION). Nothing is ever downloaded.

Language: every text is analyzed under one code, "xx": the recognizers are language-neutral and carry
the context words of all supported languages (en, de, pt, fr, es, it, zh, ja), so no language detection is
needed and a mixed-language ticket is handled in one pass.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from cdp.pii.findings import DEFAULT_SCORE_THRESHOLD, Finding

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult
    from presidio_analyzer.nlp_engine import NlpEngine

LANGUAGE = "xx"
SPACY_MODEL_ENV = "CDP_SPACY_MODEL"

_lock = threading.Lock()
_analyzer: AnalyzerEngine | None = None

# Full-width ASCII (common in Japanese and Chinese input: "１３８", "＠") mapped one-to-one to ASCII, so
# patterns match and offsets into the original text stay exact.
_FULLWIDTH = str.maketrans({chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {"\u3000": " "})

# Every pattern entity contains a digit or an "@" (an IPv6 address made only of hex letters is the
# accepted exception), so without NER a text with neither cannot hold one.
_PATTERN_CANDIDATE = re.compile(r"[0-9@]")

# Machine identifiers whose digit runs can look like numbers: a finding inside one is dropped.
_TECHNICAL = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # UUID
    r"|(?<![0-9a-z])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{32,}(?![0-9a-z])"  # MD5/SHA digest
    r"|\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?",  # ISO 8601 time
    re.IGNORECASE,
)

# Of overlapping findings the longer span wins (an email "13812345678@163.com" contains a CN mobile number,
# a card number contains a 12-digit My Number candidate), then the more specific type (a CN mobile number
# is also a PHONE_NUMBER; a formatted CPF also parses as one), then the higher score.
_SPECIFICITY = (
    "CN_RESIDENT_ID", "BR_CNPJ", "BR_CPF", "IBAN_CODE", "CREDIT_CARD", "EU_VAT", "UK_NINO", "JP_MY_NUMBER",
    "CN_MOBILE", "EMAIL_ADDRESS", "IP_ADDRESS", "PHONE_NUMBER",
)  # fmt: skip
_RANK = {entity: i for i, entity in enumerate(_SPECIFICITY)}


def get_analyzer() -> AnalyzerEngine:
    """The process-wide analyzer, built once (thread-safe) from `CDP_SPACY_MODEL` if set."""
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                _analyzer = build_analyzer(os.environ.get(SPACY_MODEL_ENV) or None)
    return _analyzer


def build_analyzer(spacy_model: str | None = None) -> AnalyzerEngine:
    """A new analyzer with only cdp's recognizers; `spacy_model` must already be installed."""
    # tldextract's module-level extractor reads this when first imported (by presidio) and would otherwise
    # fetch the public suffix list from the internet; our own email validation is offline regardless.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    from cdp.pii.recognizers import CUES, WindowContextEnhancer, build_recognizers

    nlp_engine: NlpEngine
    if spacy_model:
        nlp_engine = _spacy_engine(spacy_model)
    else:
        nlp_engine = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "no_op"}])
    nlp_engine.load()
    registry = RecognizerRegistry(recognizers=build_recognizers(LANGUAGE), supported_languages=[LANGUAGE])
    registry.add_nlp_recognizer(nlp_engine)  # no-op for the no_op engine; spaCy NER otherwise
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[LANGUAGE],
        context_aware_enhancer=WindowContextEnhancer(CUES),
    )


def _spacy_engine(model: str) -> NlpEngine:
    import spacy
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    # SpacyNlpEngine.load() downloads a missing model; refuse first so that can never happen.
    if not (spacy.util.is_package(model) or Path(model).is_dir()):
        raise RuntimeError(
            f"{SPACY_MODEL_ENV}={model!r} is neither an installed spaCy model package nor a model directory. "
            f"cdp never downloads models: install the official model, or unset {SPACY_MODEL_ENV}."
        )
    ner = NerModelConfiguration(
        model_to_presidio_entity_mapping={
            "PER": "PERSON",
            "PERSON": "PERSON",
            "LOC": "LOCATION",
            "GPE": "LOCATION",
        }
    )
    return SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": model}], ner_model_configuration=ner)


def analyze(
    text: str, *, score_threshold: float = DEFAULT_SCORE_THRESHOLD, context: list[str] | None = None
) -> list[Finding]:
    """Non-overlapping findings in `text` scoring at least `score_threshold`, in text order.

    `context` adds cue words that are not in the text (e.g. the name of the field the value came from).
    """
    engine = get_analyzer()
    normalized = text.translate(_FULLWIDTH)
    if not _worth_analyzing(normalized, engine):
        return []
    results = engine.analyze(text=normalized, language=LANGUAGE, score_threshold=score_threshold, context=context)
    return _resolve(normalized, results)


def analyze_batch(
    texts: list[str],
    *,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    context: list[str] | None = None,
    batch_size: int = 64,
) -> list[list[Finding]]:
    """`analyze` over many texts; the NLP pipeline (when a spaCy model is configured) runs in batches."""
    from presidio_analyzer import BatchAnalyzerEngine

    engine = get_analyzer()
    normalized = [text.translate(_FULLWIDTH) for text in texts]
    todo = [i for i, text in enumerate(normalized) if _worth_analyzing(text, engine)]
    findings: list[list[Finding]] = [[] for _ in texts]
    if not todo:
        return findings
    batch = BatchAnalyzerEngine(analyzer_engine=engine).analyze_iterator(
        [normalized[i] for i in todo],
        language=LANGUAGE,
        batch_size=batch_size,
        score_threshold=score_threshold,
        context=context,
    )
    for i, results in zip(todo, batch, strict=True):
        findings[i] = _resolve(normalized[i], results)
    return findings


def classify_value(
    text: str, threshold: float = DEFAULT_SCORE_THRESHOLD, *, context: list[str] | None = None
) -> Finding | None:
    """The strongest finding in a field value, or None: does this undeclared field hold personal data?

    Pass the field name as `context` ("cpf", "phone") so that weak formats can reach the threshold.
    """
    findings = analyze(text, score_threshold=threshold, context=context)
    return max(findings, key=lambda f: (f.score, f.end - f.start), default=None)


def _worth_analyzing(text: str, engine: AnalyzerEngine) -> bool:
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    if isinstance(engine.nlp_engine, NoOpNlpEngine):
        return _PATTERN_CANDIDATE.search(text) is not None
    return bool(text.strip())


def _resolve(text: str, results: list[RecognizerResult]) -> list[Finding]:
    """Drop findings inside machine identifiers; of overlapping spans keep the best, once.

    O(n log n) in the findings: candidates are visited best first and each is checked against its two
    neighbours among the spans kept so far (kept spans never overlap, so sorted by start they are also sorted
    by end). Checking every kept span instead made a 300 KB ticket take a minute.
    """
    if not results:
        return []
    technical = [m.span() for m in _TECHNICAL.finditer(text)]  # non-overlapping, in text order
    technical_starts = [s for s, _ in technical]
    ranked = sorted(
        (r for r in results if not _inside(technical, technical_starts, r.start, r.end)),
        key=lambda r: (-(r.end - r.start), _RANK.get(r.entity_type, len(_RANK)), -r.score),
    )
    starts: list[int] = []  # starts of the kept spans, sorted
    kept: list[RecognizerResult] = []  # in the same order as `starts`
    for result in ranked:
        i = bisect.bisect_right(starts, result.start)
        if i > 0 and kept[i - 1].end > result.start:
            continue
        if i < len(kept) and kept[i].start < result.end:
            continue
        starts.insert(i, result.start)
        kept.insert(i, result)
    return [Finding(r.entity_type, r.start, r.end, round(r.score, 3)) for r in kept]


def _inside(spans: list[tuple[int, int]], starts: list[int], start: int, end: int) -> bool:
    """Is [start, end) within one of `spans` (non-overlapping, sorted, `starts` their starts)?"""
    i = bisect.bisect_right(starts, start) - 1
    return i >= 0 and end <= spans[i][1]
