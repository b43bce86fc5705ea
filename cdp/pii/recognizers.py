"""The recognizers cdp uses, and a context enhancer that works on raw characters.

Imports presidio, so only `cdp.pii.analyzer` imports this module, lazily, when the analyzer is built.

Every pattern is language-neutral: one recognizer set serves English, German, Portuguese, French, Spanish,
Chinese and Japanese texts alike, and the context words of all those languages sit side by side.

Boundaries: `\\b` treats CJK characters as word characters, so "身份证号码11010519491231002X请核对" has no
boundary before the digits. Patterns use ASCII look-arounds (`_START`, `_END`) instead: a number may touch
CJK text or punctuation, never another ASCII letter or digit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import phonenumbers
import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
)
from stdnum import luhn
from stdnum.br import cnpj, cpf
from stdnum.cn import ric
from stdnum.eu import vat
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_11_2
from stdnum.jp import in_ as my_number

_START = r"(?<![0-9A-Za-z])"
_END = r"(?![0-9A-Za-z])"
# presidio's own patterns use \b and \w; these ASCII versions keep them working next to CJK text.
_ASCII_BOUNDARY = r"(?:(?<![0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<=[0-9A-Za-z_])(?![0-9A-Za-z_]))"

_CASE_SENSITIVE = re.DOTALL | re.MULTILINE
_CASE_INSENSITIVE = _CASE_SENSITIVE | re.IGNORECASE

# Phone regions where our sellers' customers live. Each region is one more PhoneNumberMatcher pass over
# every text (the dominant cost of analysis), so add one only for a market that is actually served.
PHONE_REGIONS: tuple[str, ...] = ("CN", "JP", "BR", "DE", "FR", "GB", "US", "ES", "IT")

# fmt: off
_PHONE_WORDS = (
    "phone", "telephone", "tel", "mobile", "cell", "call", "whatsapp", "sms", "reach", "contact",
    "telefon", "handy", "mobil", "rufnummer", "anrufen", "erreichen", "kontakt",
    "telefone", "celular", "contato", "ligar",
    "téléphone", "portable", "joindre",
    "teléfono", "móvil", "llamar", "contacto", "telefono", "cellulare",
    "电话", "手机", "联系", "拨打", "致电", "收件人", "收货人", "電話", "携帯", "連絡先",
)
# Words that say a number near them is a business reference, not a person's identifier.
_REFERENCE_WORDS = (
    "order", "tracking", "invoice", "sku", "item", "article", "parcel", "shipment", "reference", "ref",
    "bestellung", "bestellnummer", "sendungsnummer", "rechnung", "artikel", "auftrag", "paket",
    "pedido", "rastreamento", "fatura", "nota fiscal", "commande", "facture", "colis", "factura",
    "seguimiento", "订单", "单号", "快递", "运单", "物流", "发票", "注文", "伝票", "追跡", "請求書",
)
_VERSION_WORDS = ("version", "versão", "versión", "版本", "バージョン", "build", "firmware")


@dataclass(frozen=True)
class Cues:
    """Context words that raise (positive) or lower (negative) the score of one entity type."""

    positive: tuple[str, ...]
    negative: tuple[str, ...] = ()


CUES: dict[str, Cues] = {
    "EMAIL_ADDRESS": Cues(("email", "e-mail", "mail", "courriel", "correio", "邮箱", "邮件", "メール")),
    "PHONE_NUMBER": Cues(_PHONE_WORDS, _REFERENCE_WORDS),
    "CN_MOBILE": Cues(_PHONE_WORDS + ("手机号",), _REFERENCE_WORDS),
    "CN_RESIDENT_ID": Cues(
        ("身份证", "身份证号", "身份证号码", "公民身份号码", "证件号", "身分証", "resident id", "id card",
         "identity card"),
        _REFERENCE_WORDS,
    ),
    "BR_CPF": Cues(("cpf", "cadastro de pessoa"), _REFERENCE_WORDS),
    "BR_CNPJ": Cues(("cnpj", "cadastro nacional"), _REFERENCE_WORDS),
    "JP_MY_NUMBER": Cues(("マイナンバー", "個人番号", "my number", "mynumber"), _REFERENCE_WORDS),
    "UK_NINO": Cues(("nino", "national insurance", "ni number", "ni no"), _REFERENCE_WORDS),
    "EU_VAT": Cues(
        ("vat", "ust-idnr", "ust-id", "ustid", "umsatzsteuer", "mwst", "tva", "iva", "partita iva", "btw",
         "nif", "税号", "增值税"),
    ),
    "CREDIT_CARD": Cues(
        ("credit", "card", "visa", "mastercard", "amex", "kreditkarte", "karte", "cartão", "cartao",
         "crédito", "carte", "tarjeta", "carta", "信用卡", "银行卡", "卡号", "クレジット", "カード"),
        _REFERENCE_WORDS,
    ),
    "IBAN_CODE": Cues(
        ("iban", "bank", "konto", "bankverbindung", "conta", "banco", "compte", "cuenta", "银行", "账户",
         "账号", "口座"),
    ),
    "IP_ADDRESS": Cues(("ip", "ipv4", "ipv6", "ip-adresse", "endereço ip", "adresse ip"), _VERSION_WORDS),
}
# fmt: on


def _word_regex(words: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation over lower-cased cue words.

    CJK words match as substrings (no spaces to delimit them). Latin words must not continue a Latin word
    on the left ("iva" is not in "privacy"), may be followed by more letters ("telefon" in
    "Telefonnummer"), except short ones (<= 3 letters, "tel", "ip"), which must stand alone.
    """
    latin = "a-z\u00c0-\u024f"
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        escaped = re.escape(word.lower())
        if not word.isascii() and not any(c.isalpha() and c <= "\u024f" for c in word):
            parts.append(escaped)
        elif len(word) <= 3:
            parts.append(f"(?<![{latin}]){escaped}(?![{latin}])")
        else:
            parts.append(f"(?<![{latin}]){escaped}")
    return re.compile("|".join(parts)) if parts else None


class WindowContextEnhancer(ContextAwareEnhancer):
    """Context enhancement over a window of raw characters around each result.

    presidio's LemmaContextAwareEnhancer needs tokens and lemmas, which the no-op NLP engine does not
    produce, and whitespace tokenisation would glue "电话13812345678" into one token anyway. Looking at
    characters works for every script and costs no NLP pipeline.

    Rules: a label usually precedes its value, so the cue nearest before the entity decides: a positive
    word ("CPF", "电话") raises the score like presidio does, a negative one ("order", "订单") lowers it.
    A negative cue counts only if no other number stands between it and the entity ("order 4711, call
    030 ..." - "order" labels 4711). Only when nothing precedes does a positive cue just after the entity
    ("090-1234-5678に電話") or in the caller's context (a field name) raise the score.
    """

    def __init__(
        self,
        cues: dict[str, Cues],
        *,
        prefix_chars: int = 40,
        suffix_chars: int = 12,
        boost: float = 0.35,
        min_boosted_score: float = 0.4,
        penalty: float = 0.3,
    ) -> None:
        super().__init__(
            context_similarity_factor=boost,
            min_score_with_context_similarity=min_boosted_score,
            context_prefix_count=prefix_chars,
            context_suffix_count=suffix_chars,
        )
        self.penalty = penalty
        self._regexes = {entity: (_word_regex(c.positive), _word_regex(c.negative)) for entity, c in cues.items()}

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        extra = " ".join(context).lower() if context else ""
        for result in raw_results:
            positive, negative = self._regexes.get(result.entity_type, (None, None))
            before = text[max(0, result.start - self.context_prefix_count) : result.start].lower()
            after = text[result.end : result.end + self.context_suffix_count].lower()
            pos = _distance_before(positive, before)
            neg = _distance_before(negative, re.split(r"\d", before)[-1])
            if pos is not None or neg is not None:
                raise_score = neg is None or (pos is not None and pos <= neg)
            elif positive is not None and (positive.search(after) or positive.search(extra)):
                raise_score = True
            else:
                continue
            if raise_score:
                result.score = min(
                    max(result.score + self.context_similarity_factor, self.min_score_with_context_similarity),
                    self.MAX_SCORE,
                )
            else:
                result.score = max(result.score - self.penalty, self.MIN_SCORE)
        return raw_results


def _distance_before(regex: re.Pattern[str] | None, before: str) -> int | None:
    """Characters between the last match of regex in `before` and the entity, or None."""
    if regex is None:
        return None
    return min((len(before) - m.end() for m in regex.finditer(before)), default=None)


class ChecksumRecognizer(PatternRecognizer):
    """Pattern + validator; a failed validation drops the match, a passed one keeps the pattern's score.

    presidio raises a validated match to score 1.0; for short all-digit formats (an 11-digit CPF passes its
    two check digits by chance once in a hundred) that would flag order numbers, so the score stays the
    pattern's and context decides.
    """

    def __init__(
        self,
        entity: str,
        patterns: list[Pattern],
        validator: Callable[[str], bool],
        *,
        supported_language: str,
        flags: int = _CASE_INSENSITIVE,
    ) -> None:
        self._validator = validator
        super().__init__(
            supported_entity=entity,
            name=f"{entity.lower()}_recognizer",
            supported_language=supported_language,
            patterns=patterns,
            context=list(CUES[entity].positive),
            global_regex_flags=flags,
        )

    def invalidate_result(self, pattern_text: str) -> bool:
        # One digit repeated ("111.111.111-11") passes several checksums but is a placeholder, never issued.
        return len(set(_digits(pattern_text))) < 2 or not self._validator(pattern_text)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


# Province-level prefixes of the resident id's region code.
_CN_PROVINCES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42"}
    | {"43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"}
)


def _valid_resident_id(text: str) -> bool:
    """Check character, real birth date and province; not stdnum's county look-up (`ric.is_valid`).

    stdnum rejects a county code that did not exist in the birth year, but ids are issued at registration,
    not birth: someone born in 1955 and registered in Shenzhen's Nanshan district (created 1990) holds a
    valid 440305... id that stdnum would miss.
    """
    number = text.upper()
    if number[:2] not in _CN_PROVINCES or not mod_11_2.is_valid(number):
        return False
    try:
        ric.get_birth_date(number)
    except ValidationError:
        return False
    return True


def _valid_cn_mobile(text: str) -> bool:
    national = _digits(text)
    if len(national) > 11:
        national = national.removeprefix("00").removeprefix("86")
    return len(national) == 11 and phonenumbers.is_valid_number(phonenumbers.parse(national, "CN"))


def valid_card(text: str) -> bool:
    number = _digits(text)
    return 13 <= len(number) <= 19 and luhn.is_valid(number)


# A card number with a real issuer prefix (Visa, Mastercard, Amex, Discover, JCB, UnionPay, Diners). It is never
# the tail or head of a longer digit-group sequence: in an Amazon order number (340-2590039-2551281) the part
# after the first dash is Luhn-valid one time in ten.
CARD_PATTERN = (
    _START + r"(?<![0-9][ -])(?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|3[47]\d{2}|3[0689]\d{2}|35\d{2}|6\d{3})"
    r"(?:[ -]?\d{3,4}){2}[ -]?\d{1,7}" + _END + r"(?![ -][0-9])"
)


# Offline public-suffix data: no URLs and no disk cache, so validation uses the snapshot shipped inside
# tldextract and never opens a socket, whatever the environment or import order.
_OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's email recognizer with an ASCII-bounded pattern and offline domain validation.

    presidio's pattern uses \\w, which includes CJK characters, so "邮箱zhang@example.cn" would start the
    address at 邮. Internationalised (non-ASCII) addresses are not matched.
    """

    PATTERNS = [
        Pattern(
            "Email (ASCII)",
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?"
            r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![A-Za-z0-9\-])",
            0.5,
        )
    ]

    def __init__(self, supported_language: str) -> None:
        super().__init__(
            patterns=self.PATTERNS,
            context=list(CUES["EMAIL_ADDRESS"].positive),
            supported_language=supported_language,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD(pattern_text.rpartition("@")[2]).fqdn != ""


# At least 7 digits, possibly separated: the cheapest way to skip the phone matcher on texts with no number.
_PHONE_CANDIDATE = re.compile(r"\d(?:[\s().\-/]{0,3}\d){6}")


# Digit groups joined by a space, dash or parentheses, as people write phone numbers (not dots: dates).
_GROUPED_PHONE = re.compile(r"\(?\d+\)?(?:(?: ?- ?| |\) ?)\d+)+")


class RegionalPhoneRecognizer(PhoneRecognizer):
    """presidio's phone recognizer restricted to PHONE_REGIONS, skipping texts without a digit run.

    The score follows how phone-like the writing is: international form (+49 ..., 0086 ...) scores highest,
    a national number grouped with spaces, dashes or parentheses reaches the threshold alone, and a bare
    digit run needs a context word, because an order number is a valid national number in some region
    surprisingly often.
    """

    INTERNATIONAL_SCORE = 0.6
    GROUPED_SCORE = 0.5

    def __init__(self, supported_language: str, regions: Sequence[str] = PHONE_REGIONS) -> None:
        super().__init__(
            context=list(CUES["PHONE_NUMBER"].positive),
            supported_language=supported_language,
            supported_regions=tuple(regions),
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if not _PHONE_CANDIDATE.search(text):
            return []
        # presidio declares `nlp_artifacts: NlpArtifacts = None` (an implicit Optional) and accepts None
        results = super().analyze(text, entities, nlp_artifacts)  # type: ignore[arg-type]
        for result in results:
            if text.startswith(("+", "00"), result.start):
                result.score = self.INTERNATIONAL_SCORE
            elif _GROUPED_PHONE.fullmatch(text, result.start, result.end):
                result.score = self.GROUPED_SCORE
        return results


def _ascii_bounded(patterns: Iterable[Pattern], *, skip: frozenset[str]) -> list[Pattern]:
    """Copies of presidio's IP patterns with \\b and \\w made ASCII-only (see module docstring).

    In these patterns \\w only occurs inside character classes ([\\w:]), so a textual swap is exact.
    """
    return [
        Pattern(p.name, p.regex.replace(r"\b", _ASCII_BOUNDARY).replace(r"\w", "0-9A-Za-z_"), p.score)
        for p in patterns
        if p.name not in skip
    ]


class CardRecognizer(CreditCardRecognizer):
    """presidio's card recognizer, issuer prefixes only, keeping the pattern's score on a Luhn pass.

    presidio also accepts numbers starting with 1 and scores every Luhn pass 1.0; one 16-digit order or
    tracking number in ten passes Luhn, so only real issuer prefixes (Visa, Mastercard, Amex, Discover,
    JCB, UnionPay, Diners) match and a near reference word lowers the score.
    """

    PATTERNS = [Pattern("Card (issuer prefix)", CARD_PATTERN, 0.6)]

    def __init__(self, supported_language: str) -> None:
        super().__init__(
            patterns=self.PATTERNS,
            context=list(CUES["CREDIT_CARD"].positive),
            supported_language=supported_language,
        )

    # PatternRecognizer.validate_result returns bool | None (None: no verdict, keep the score); presidio's
    # CreditCardRecognizer narrowed it to bool
    def validate_result(self, pattern_text: str) -> None:  # type: ignore[override]
        return None

    def invalidate_result(self, pattern_text: str) -> bool:
        return not valid_card(pattern_text)


def build_recognizers(language: str) -> list[EntityRecognizer]:
    """Every recognizer cdp uses, registered for `language` (the analyzer uses one language code)."""

    def checksum(
        entity: str, patterns: list[tuple[str, float]], validator: Callable[[str], bool], **kw: int
    ) -> ChecksumRecognizer:
        compiled = [Pattern(f"{entity} {i}", _START + rx + _END, score) for i, (rx, score) in enumerate(patterns)]
        return ChecksumRecognizer(entity, compiled, validator, supported_language=language, **kw)

    return [
        OfflineEmailRecognizer(language),
        RegionalPhoneRecognizer(language),
        CardRecognizer(language),
        IbanRecognizer(supported_language=language, context=list(CUES["IBAN_CODE"].positive)),
        IpRecognizer(
            supported_language=language,
            context=list(CUES["IP_ADDRESS"].positive),
            # "::" alone (IPv6 unspecified) is no one's address.
            patterns=_ascii_bounded(IpRecognizer.PATTERNS, skip=frozenset({"IPv6_unspecified"})),
        ),
        # 6-digit region, birth date (YYYYMMDD), 3-digit sequence, ISO 7064 mod 11-2 check character.
        checksum(
            "CN_RESIDENT_ID",
            [(r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9X]", 0.7)],
            _valid_resident_id,
        ),
        checksum(
            "CN_MOBILE",
            [
                (r"(?:\+|00)86[ -]?1[3-9]\d[ -]?\d{4}[ -]?\d{4}", 0.7),
                (r"1[3-9]\d[ -]?\d{4}[ -]?\d{4}", 0.5),
            ],
            _valid_cn_mobile,
        ),
        checksum("BR_CPF", [(r"\d{3}\.\d{3}\.\d{3}-\d{2}", 0.7), (r"\d{9}-?\d{2}", 0.3)], cpf.is_valid),
        checksum(
            "BR_CNPJ",
            [(r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}", 0.8), (r"\d{8}/?\d{4}-?\d{2}", 0.35)],
            cnpj.is_valid,
        ),
        # 11 digits + 1 check digit; one random 12-digit number in ten passes, so context is required.
        checksum("JP_MY_NUMBER", [(r"\d{4}[ -]?\d{4}[ -]?\d{4}", 0.3)], my_number.is_valid),
        # No checksum exists: the prefix rules (no D F I Q U V first, no D F I O Q U V second, no
        # BG GB KN NK NT TN ZZ) and the A-D suffix are the validation; upper case only.
        PatternRecognizer(
            supported_entity="UK_NINO",
            name="uk_nino_recognizer",
            supported_language=language,
            patterns=[
                Pattern(
                    "UK_NINO",
                    _START + r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
                    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]" + _END,
                    0.5,
                )
            ],
            context=list(CUES["UK_NINO"].positive),
            global_regex_flags=_CASE_SENSITIVE,
        ),
        # Member-state prefix, then the national number; a separator only before a digit, so the next
        # word is never swallowed. stdnum checks each country's own format and checksum.
        checksum(
            "EU_VAT",
            [
                (
                    r"(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI)"
                    r" ?[0-9A-Z](?:[0-9A-Z]|[ .\-](?=\d)){7,13}",
                    0.6,
                )
            ],
            vat.is_valid,
            flags=_CASE_SENSITIVE,
        ),
    ]
