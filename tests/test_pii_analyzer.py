"""The public API of cdp.pii: analysis, batching, classification, redaction, offline operation."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from cdp.pii import ENTITY_CATEGORIES, Finding, analyze, analyze_batch, classify_value, redact
from cdp.pii.analyzer import LANGUAGE, build_analyzer, get_analyzer

ROOT = Path(__file__).resolve().parents[1]

MULTILINGUAL = {
    "en": "Hi, order 48213 never arrived. Email me at john.doe@example.com or call +1 415 555 0132.",
    "de": "Hallo, bitte die Rechnung an USt-IdNr. DE136695976 stellen, IBAN DE89 3704 0044 0532 0130 00.",
    "pt": "Olá, meu CPF é 123.456.789-09 e o telefone (11) 91234-5678, pedido 7781.",
    "zh": "你好，订单202601311234还没到，身份证号11010519491231002X，手机13812345678，邮箱li.na@example.cn",
    "ja": "注文番号 55123 の件です。マイナンバー 1234 5678 9018、電話 090-1234-5678、メール taro@example.jp",
}
EXPECTED = {
    "en": [("EMAIL_ADDRESS", "john.doe@example.com"), ("PHONE_NUMBER", "+1 415 555 0132")],
    "de": [("EU_VAT", "DE136695976"), ("IBAN_CODE", "DE89 3704 0044 0532 0130 00")],
    "pt": [("BR_CPF", "123.456.789-09"), ("PHONE_NUMBER", "(11) 91234-5678")],
    "zh": [
        ("CN_RESIDENT_ID", "11010519491231002X"),
        ("CN_MOBILE", "13812345678"),
        ("EMAIL_ADDRESS", "li.na@example.cn"),
    ],
    "ja": [
        ("JP_MY_NUMBER", "1234 5678 9018"),
        ("PHONE_NUMBER", "090-1234-5678"),
        ("EMAIL_ADDRESS", "taro@example.jp"),
    ],
}


@pytest.mark.parametrize("language", sorted(MULTILINGUAL))
def test_multilingual_ticket(language: str) -> None:
    text = MULTILINGUAL[language]
    assert [(f.entity_type, text[f.start : f.end]) for f in analyze(text)] == EXPECTED[language]


def test_batch_matches_one_by_one() -> None:
    texts = [*MULTILINGUAL.values(), "", "nothing here", "only digits 12"]
    assert analyze_batch(texts) == [analyze(t) for t in texts]


def test_findings_do_not_overlap_and_are_in_text_order() -> None:
    # A CN mobile number is also a valid PHONE_NUMBER; a formatted CPF also parses as a US phone number.
    findings = analyze("手机13812345678 / CPF 123.456.789-09")
    assert [f.entity_type for f in findings] == ["CN_MOBILE", "BR_CPF"]
    assert all(a.end <= b.start for a, b in zip(findings, findings[1:], strict=False))


def test_finding_is_frozen_and_carries_no_text() -> None:
    finding = analyze("mail anna@example.de")[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.score = 0.0  # type: ignore[misc]
    assert "anna" not in repr(finding)
    assert finding.category == "user.contact.email"


def test_classify_value() -> None:
    assert classify_value("anna@example.de").entity_type == "EMAIL_ADDRESS"
    assert classify_value("hello world") is None
    assert classify_value("12345678909") is None  # 11 digits alone: could be anything
    assert classify_value("12345678909", context=["cpf"]).entity_type == "BR_CPF"  # the field name decides
    assert classify_value("anna@example.de", threshold=1.01) is None
    # The strongest finding wins.
    assert classify_value("ip 203.0.113.42, mail a@example.org").entity_type == "EMAIL_ADDRESS"


def test_redact() -> None:
    text = "CPF 123.456.789-09, email joao@exemplo.com.br, pedido 7781"
    assert redact(text) == "CPF <BR_CPF>, email <EMAIL_ADDRESS>, pedido 7781"
    assert redact("abcdef", [Finding("X", 1, 3, 1.0), Finding("Y", 2, 5, 1.0)]) == "a<X>def"
    assert redact("nothing here", []) == "nothing here"


def test_every_entity_the_analyzer_reports_has_a_category() -> None:
    assert set(get_analyzer().get_supported_entities()) <= set(ENTITY_CATEGORIES)


def test_registry_holds_only_our_recognizers() -> None:
    names = {type(r).__name__ for r in get_analyzer().registry.recognizers}
    assert not names & {"UrlRecognizer", "NhsRecognizer", "DateRecognizer", "UsBankRecognizer"}
    # The default set reports a URL inside an email address and UK_NHS on phone numbers; ours does not.
    assert [f.entity_type for f in analyze("mail john.doe@example.com, phone +44 20 7946 0958")] == [
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
    ]


def test_analyzer_is_built_once_across_threads() -> None:
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(get_analyzer())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(engine) for engine in seen}) == 1


def test_import_does_not_load_presidio() -> None:
    code = "import sys, cdp.pii; assert 'presidio_analyzer' not in sys.modules and 'spacy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_analysis_works_with_network_blocked() -> None:
    # A fresh interpreter, so the analyzer, tldextract's suffix data and presidio are all loaded while
    # every socket connection and DNS lookup raises.
    code = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network access attempted")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from cdp.pii import analyze
        text = "mail anna@example.co.uk, CPF 123.456.789-09, tel +49 30 12345678"
        print(sorted(f.entity_type for f in analyze(text)))
        """
    )
    run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    out = run.stdout
    assert out.strip() == "['BR_CPF', 'EMAIL_ADDRESS', 'PHONE_NUMBER']"


def test_configured_spacy_model_directory_is_used(tmp_path) -> None:
    spacy = pytest.importorskip("spacy")
    spacy.blank("en").to_disk(tmp_path / "model")
    engine = build_analyzer(str(tmp_path / "model"))
    assert type(engine.nlp_engine).__name__ == "SpacyNlpEngine"
    assert {"PERSON", "LOCATION"} <= set(engine.get_supported_entities())  # NER recognizer registered
    results = engine.analyze("CPF 123.456.789-09", language=LANGUAGE)
    assert "BR_CPF" in {r.entity_type for r in results}


def test_missing_spacy_model_is_refused_never_downloaded(monkeypatch) -> None:
    import spacy.cli

    def no_download(*args, **kwargs):
        raise AssertionError("a model download was attempted")

    monkeypatch.setattr(spacy.cli, "download", no_download)
    with pytest.raises(RuntimeError, match="never downloads"):
        build_analyzer("xx_no_such_model_sm")
