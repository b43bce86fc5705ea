"""Data category of each incoming trait, and PII detection over what the data dictionary does not declare.

Declared traits take their dictionary category and are never analyzed. Once per ingest batch, `classify`
analyzes, with one `analyze_batch` call per field (its keys are the context words, so "cpf_number" is a cue):
- string and integer values of undeclared traits: one found to hold personal data is stored under the
  detected category (user.contact.email, user.government_id, ...) instead of `user.unclassified`;
- free text (FREE_TEXT: ticket subject and body, review text), which also gets a redacted copy for analytics
  (`event.redacted_ct`): detected entities, and the event's own name and address traits wherever they occur
  in the text, replaced by their type (`<EMAIL_ADDRESS>`, `<PERSON>`, `<LOCATION>`);
- every property DECLARED_PROPERTIES does not list, walked recursively (string and integer leaves).
Each field found to hold personal data becomes a discovered field (`cdp.pii.discovered`): its location and
entity type, never the value. Every value is stored encrypted whatever the result, the redacted copy too:
without an NER model, an address or a name that the event does not carry survives redaction.

Cost: the analyzer takes ~1 ms per text that has a digit or an "@" (others are skipped without analysis), so
an event whose traits and properties are all declared (orders, carts, page views) is walked but never
analyzed.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from sqlmodel import Session

from cdp.dictionary import dictionary
from cdp.events.schema import FREE_TEXT, IncomingEvent
from cdp.pii import Finding, analyze_batch, redact
from cdp.pii.discovered import Discovery, record_discoveries

# Properties whose meaning is known (ids, amounts, SKUs, URLs, ratings): not analyzed. Any other property
# of these event types, and every property of other types, is walked and analyzed.
DECLARED_PROPERTIES: dict[str, frozenset[str]] = {
    "order": frozenset({"order_id", "total", "currency", "items"}),
    "cart": frozenset({"cart_id", "total", "currency", "items"}),
    "page_view": frozenset({"url", "referrer"}),
    "review": frozenset({"product_sku", "rating"}),
    "ticket": frozenset({"ticket_id"}),
    "subscribe": frozenset({"list"}),
}
# Declared traits whose values are redacted from the same event's free text, as the entity NER would report:
# the pattern recognizers cannot see names and addresses ("Thanks, Anna"). Low-sensitivity values (country,
# region) are left alone: "DE" or "CA" would blank out ordinary words.
_KNOWN_VALUE_ENTITIES = {"user.name": "PERSON", "user.contact.address": "LOCATION"}
# A known value must not touch a Latin letter or digit (so "Ann" is not found in "Announcement"); it may touch
# CJK text, which has no spaces ("谢谢！王伟").
_EDGE = re.compile("[0-9A-Za-z\u00c0-\u024f]")
# Locations are stored in plaintext, so a JSON key enters one only if it looks like a field name: a key may
# itself be personal data ({"anna@example.com": ...}, {"13812345678": ...}).
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_DIGIT_RUN = re.compile(r"\d{5}")


@dataclass(frozen=True, slots=True)
class _Text:
    index: int  # the event's position in the batch
    location: str  # "traits.<name>" or "properties.<event type>.<path>"
    context: tuple[str, ...]  # the keys leading to the value
    text: str
    trait: str | None = None  # an undeclared trait's name
    free_text: str | None = None  # a FREE_TEXT property's name


@dataclass(frozen=True)
class TraitClassifier:
    """Categories for traits; `classify` returns a copy bound to one batch's detection results.

    `detect=False` analyzes nothing: undeclared traits stay `user.unclassified`, no redacted copies, no
    discoveries (the benchmark's baseline).
    """

    declared: Mapping[str, str]  # declared trait -> category
    undeclared: str
    known_values: Mapping[str, str] = field(default_factory=dict)  # declared trait -> entity type in free text
    detect: bool = True
    # Results of `classify` for one batch:
    detected: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (trait, str(value)) -> category
    redacted: Mapping[int, dict[str, str]] = field(default_factory=dict)  # batch index -> {property: text}
    discoveries: Mapping[int, list[Discovery]] = field(default_factory=dict)  # batch index -> discoveries

    @classmethod
    def default(cls, *, detect: bool = True) -> TraitClassifier:
        fields = dictionary()
        known = {
            name: entity
            for name, spec in fields.traits.items()
            for root, entity in _KNOWN_VALUE_ENTITIES.items()
            if spec.sensitivity != "low" and (spec.category == root or spec.category.startswith(root + "."))
        }
        return cls(
            {n: spec.category for n, spec in fields.traits.items()},
            fields.undeclared_trait.category,
            known,
            detect,
        )

    def category(self, name: str, value: object) -> str:
        declared = self.declared.get(name)
        if declared is not None:
            return declared
        return self.detected.get((name, str(value)), self.undeclared) if self.detected else self.undeclared

    def redacted_text(self, index: int) -> str | None:
        """The redacted free text of the batch's event at `index` as a JSON object, or None when it has none."""
        redacted = self.redacted.get(index)
        return None if redacted is None else json.dumps(redacted, ensure_ascii=False, sort_keys=True)

    def classify(self, events: Mapping[int, IncomingEvent]) -> TraitClassifier:
        """Analyze a batch (batch index -> event); the returned classifier knows the results, and only them."""
        texts = [text for index, event in events.items() for text in self._texts(index, event)] if self.detect else []
        results: list[list[Finding]] = [[] for _ in texts]
        by_context: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for position, text in enumerate(texts):
            by_context[text.context].append(position)
        for context, positions in by_context.items():
            found = analyze_batch([texts[p].text for p in positions], context=list(context))
            for position, findings in zip(positions, found, strict=True):
                results[position] = findings
        detected: dict[tuple[str, str], str] = {}
        redacted: dict[int, dict[str, str]] = defaultdict(dict)
        discoveries: dict[int, list[Discovery]] = defaultdict(list)
        for text, findings in zip(texts, results, strict=True):
            if text.free_text is not None:
                findings = findings + self._known_spans(events[text.index], text.text)
                redacted[text.index][text.free_text] = redact(text.text, findings)
            if not findings:
                continue
            if text.trait is not None:
                best = max(findings, key=lambda f: (f.score, f.end - f.start))
                detected[(text.trait, text.text)] = best.category
            strongest: dict[str, Finding] = {}
            for finding in findings:
                known = strongest.get(finding.entity_type)
                if known is None or finding.score > known.score:
                    strongest[finding.entity_type] = finding
            discoveries[text.index] += [
                Discovery(text.location, f.entity_type, f.category, f.score) for f in strongest.values()
            ]
        return replace(self, detected=detected, redacted=dict(redacted), discoveries=dict(discoveries))

    def record(self, session: Session, indexes: Iterable[int]) -> None:
        """Record the discoveries of these events (the ones stored), in the batch's transaction."""
        found = [d for index in indexes for d in self.discoveries.get(index, ())]
        if found:
            record_discoveries(session, found)

    def _texts(self, index: int, event: IncomingEvent) -> Iterator[_Text]:
        for name, value in event.traits.items():
            if name not in self.declared and _analyzable(value):
                yield _Text(index, f"traits.{name}", (name,), str(value), trait=name)
        free = FREE_TEXT.get(event.type, frozenset())
        declared = DECLARED_PROPERTIES.get(event.type, frozenset())
        for key, value in event.properties.items():
            if key in free and isinstance(value, str):
                yield _Text(index, f"properties.{event.type}.{key}", (key,), value, free_text=key)
            elif key not in declared:
                yield from _leaves(index, f"properties.{event.type}.{_location_key(key)}", (key,), value)

    def _known_spans(self, event: IncomingEvent, text: str) -> list[Finding]:
        values: dict[str, str] = {}
        for name, entity in self.known_values.items():
            value = event.traits.get(name)
            if not isinstance(value, str):
                continue
            # A name is also written in parts ("Anna" of "Anna Müller"); an address only whole.
            parts = value.split() if entity == "PERSON" else []
            for part in (value.strip(), *parts):
                if len(part) >= 2:
                    values.setdefault(part, entity)
        # str.find, not a regex per value: compiling one per customer would also evict the phone matcher's
        # patterns from re's cache. Case-insensitive unless lower-casing changes the length (offsets must hold).
        fold = len(text.lower()) == len(text)
        haystack = text.lower() if fold else text
        spans = []
        for value, entity in values.items():
            needle = value.lower() if fold else value
            start = haystack.find(needle)
            while start != -1:
                end = start + len(needle)
                if (start == 0 or not _EDGE.match(haystack, start - 1)) and not _EDGE.match(haystack, end):
                    spans.append(Finding(entity, start, end, 1.0))
                start = haystack.find(needle, start + 1)
        return spans


def _leaves(index: int, location: str, keys: tuple[str, ...], value: object) -> Iterator[_Text]:
    """String and integer leaves of an undeclared property; list items share a location ("items[]")."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(index, f"{location}.{_location_key(key)}", (*keys, key), child)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(index, f"{location}[]", keys, child)
    elif _analyzable(value):
        yield _Text(index, location, keys, str(value))


def _location_key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) and not _DIGIT_RUN.search(key) else "*"


def _analyzable(value: object) -> bool:
    # Integers too: a phone number or a CPF sent as a JSON number is still one.
    return (isinstance(value, str) and bool(value.strip())) or (isinstance(value, int) and not isinstance(value, bool))
