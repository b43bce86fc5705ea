"""Each recognizer: valid identifiers found, random text and bad checksums not, context raises the score."""

from __future__ import annotations

import pytest

from cdp.pii import DEFAULT_SCORE_THRESHOLD, Finding, analyze


def entities(text: str, **kwargs) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in analyze(text, **kwargs)]


def score_of(text: str, value: str) -> float:
    """Score of the finding covering `value`, analyzed with no threshold; 0.0 when nothing covers it."""
    start = text.index(value)
    hits = [f for f in analyze(text, score_threshold=0.01) if f.start == start and f.end == start + len(value)]
    return hits[0].score if hits else 0.0


# (entity, text with a valid identifier in context, the identifier)
POSITIVE = [
    ("EMAIL_ADDRESS", "Please write to anna.schmidt@example.de today", "anna.schmidt@example.de"),
    ("PHONE_NUMBER", "Call me on +49 30 12345678 after five", "+49 30 12345678"),
    ("PHONE_NUMBER", "Telefon: 030 1234567", "030 1234567"),
    ("PHONE_NUMBER", "電話 090-1234-5678 までお願いします", "090-1234-5678"),
    ("CN_MOBILE", "我的手机号 138 1234 5678", "138 1234 5678"),
    ("CN_MOBILE", "contact +86 13812345678", "+86 13812345678"),
    ("CN_RESIDENT_ID", "身份证号 11010519491231002X", "11010519491231002X"),
    ("BR_CPF", "Meu CPF é 123.456.789-09.", "123.456.789-09"),
    ("BR_CPF", "CPF 12345678909", "12345678909"),
    ("BR_CNPJ", "CNPJ da loja: 11.222.333/0001-81", "11.222.333/0001-81"),
    ("JP_MY_NUMBER", "マイナンバーは123456789018です", "123456789018"),
    ("UK_NINO", "My national insurance number is AB 12 34 56 C", "AB 12 34 56 C"),
    ("EU_VAT", "USt-IdNr.: DE136695976", "DE136695976"),
    ("EU_VAT", "N° TVA FR40303265045", "FR40303265045"),
    ("CREDIT_CARD", "Visa card 4111 1111 1111 1111 expired", "4111 1111 1111 1111"),
    ("IBAN_CODE", "IBAN: DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    ("IP_ADDRESS", "login from IP 203.0.113.42 blocked", "203.0.113.42"),
    ("IP_ADDRESS", "ipv6 2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"),
]


@pytest.mark.parametrize(("entity", "text", "value"), POSITIVE, ids=[f"{e}-{i}" for i, (e, *_) in enumerate(POSITIVE)])
def test_valid_identifier_is_found(entity: str, text: str, value: str) -> None:
    assert (entity, value) in entities(text)


# (entity, text, value with a broken checksum or an impossible format)
BAD_CHECKSUM = [
    ("CN_RESIDENT_ID", "身份证号 110105194912310021", "110105194912310021"),
    ("CN_RESIDENT_ID", "身份证号 110105194913310028", "110105194913310028"),  # month 13
    ("CN_MOBILE", "手机 12812345678", "12812345678"),  # no 12x mobile range
    ("BR_CPF", "CPF 123.456.789-10", "123.456.789-10"),
    ("BR_CPF", "CPF 111.111.111-11", "111.111.111-11"),
    ("BR_CNPJ", "CNPJ 11.222.333/0001-82", "11.222.333/0001-82"),
    ("JP_MY_NUMBER", "マイナンバー 123456789012", "123456789012"),
    ("UK_NINO", "NINO QQ123456C", "QQ123456C"),  # QQ is not an allocated prefix
    ("EU_VAT", "USt-IdNr. DE136695977", "DE136695977"),
    ("CREDIT_CARD", "card 4111 1111 1111 1112", "4111 1111 1111 1112"),
    # Amazon order numbers: the part after the first dash passes Luhn one time in ten
    ("CREDIT_CARD", "注文340-2590039-2551281の配送状況", "2590039-2551281"),
    ("CREDIT_CARD", "a commande 684-3672261-3326716 il y", "3672261-3326716"),
    ("IBAN_CODE", "IBAN DE89 3704 0044 0532 0130 01", "DE89 3704 0044 0532 0130 01"),
    ("IP_ADDRESS", "ip 256.1.1.1", "256.1.1.1"),
    ("EMAIL_ADDRESS", "email bob@example.invalidtld", "bob@example.invalidtld"),
]


@pytest.mark.parametrize(
    ("entity", "text", "value"), BAD_CHECKSUM, ids=[f"{e}-{i}" for i, (e, *_) in enumerate(BAD_CHECKSUM)]
)
def test_bad_checksum_is_rejected(entity: str, text: str, value: str) -> None:
    assert entity not in [e for e, _ in entities(text, score_threshold=0.01)]


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for the quick reply, the parcel arrived and everything is fine.",
        "Der Artikel war beschädigt, bitte um Rückerstattung von 49,90 EUR.",
        "O produto chegou ontem, obrigado pela atenção!",
        "商品已经收到了，质量很好，谢谢",
        "ご対応ありがとうございました。またよろしくお願いします。",
        "Order #48213 shipped on 2026-01-31, total 129.99 USD, qty 3",
        "Sendungsnummer 00340434161094042557, Bestellung 100234567",
        "订单号 202601311234567 已发货",
        "注文番号 123456789018 の件",
        "Tracking 1Z999AA10123456784, invoice INV-2026-000123",
        "App version 2.10.3.1 crashes on start",
        "Meeting at 10:30, room 4.12, price 1.234,56 €",
    ],
)
def test_text_without_personal_data_yields_nothing(text: str) -> None:
    assert analyze(text) == []


@pytest.mark.parametrize(
    ("bare", "with_context", "value"),
    [
        ("Nr 12345678909 ok", "Nr do CPF 12345678909 ok", "12345678909"),
        ("番号 123456789018", "マイナンバー 123456789018", "123456789018"),
        ("see 13812345678", "电话13812345678", "13812345678"),
        ("num 030 1234567", "Telefonnummer 030 1234567", "030 1234567"),
        ("code AB123456C", "NINO AB123456C", "AB123456C"),
        ("key 11010519491231002X", "身份证11010519491231002X", "11010519491231002X"),
        ("ref 4111111111111111 ok", "Kreditkarte 4111111111111111 ok", "4111111111111111"),
    ],
)
def test_context_word_raises_score(bare: str, with_context: str, value: str) -> None:
    assert score_of(with_context, value) > score_of(bare, value) > 0


def test_weak_format_needs_context_to_reach_default_threshold() -> None:
    assert score_of("Nr 12345678909", "12345678909") < DEFAULT_SCORE_THRESHOLD
    assert entities("Nr do CPF 12345678909") == [("BR_CPF", "12345678909")]


def test_reference_word_lowers_score() -> None:
    assert score_of("pedido 12345678909", "12345678909") < score_of("Nr 12345678909", "12345678909")
    # ...unless the positive cue is nearer than the reference word.
    assert entities("Bestellung 4711, Telefon 030 1234567") == [("PHONE_NUMBER", "030 1234567")]


def test_latin_context_word_must_start_a_word() -> None:
    # "iva" inside "privacy" is no VAT cue, "ip" inside "ship" no IP cue.
    assert score_of("privacy 12345678909", "12345678909") == score_of("Nr 12345678909", "12345678909")
    assert score_of("ship 203.0.113.42", "203.0.113.42") < score_of("ip 203.0.113.42", "203.0.113.42")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("身份证号码11010519491231002X请核对", ("CN_RESIDENT_ID", "11010519491231002X")),
        ("手机号13812345678请尽快联系", ("CN_MOBILE", "13812345678")),
        ("联系邮箱zhang.wei@example.cn谢谢", ("EMAIL_ADDRESS", "zhang.wei@example.cn")),
        ("マイナンバー123456789018を登録", ("JP_MY_NUMBER", "123456789018")),
        ("IP地址203.0.113.42被封", ("IP_ADDRESS", "203.0.113.42")),
        ("信用卡4111111111111111已过期", ("CREDIT_CARD", "4111111111111111")),
        ("账户DE89370400440532013000请确认", ("IBAN_CODE", "DE89370400440532013000")),
    ],
)
def test_number_glued_to_cjk_text(text: str, expected: tuple[str, str]) -> None:
    assert entities(text) == [expected]


def test_fullwidth_digits_are_found_with_original_offsets() -> None:
    text = "携帯１３８１２３４５６７８に電話ください"
    [finding] = analyze(text)
    assert finding == Finding("CN_MOBILE", 2, 13, finding.score)
    assert entities("メール：ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ") == [("EMAIL_ADDRESS", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ")]


def test_number_inside_a_longer_ascii_token_is_not_matched() -> None:
    assert analyze("CPF X12345678909Y") == []
    assert analyze("CPF 123456789091") == []  # 12 digits: not a CPF


def test_reference_word_labels_only_the_next_number() -> None:
    assert entities("order 030 1234567") == []
    assert entities("order 4711, 030 1234567") == [("PHONE_NUMBER", "030 1234567")]


def test_cue_after_the_number_counts_when_none_precedes() -> None:
    assert entities("09012345678に電話してください") == [("PHONE_NUMBER", "09012345678")]
    assert entities("09012345678です") == []


def test_email_wins_over_a_phone_number_inside_it() -> None:
    assert entities("邮箱13812345678@163.com") == [("EMAIL_ADDRESS", "13812345678@163.com")]


def test_resident_id_of_a_county_created_after_the_birth_year() -> None:
    # Shenzhen Nanshan (440305) dates from 1990; ids are issued at registration, so 1955 births hold it.
    assert entities("身份证 440305195508277653") == [("CN_RESIDENT_ID", "440305195508277653")]
