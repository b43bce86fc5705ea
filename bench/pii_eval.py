"""Precision / recall of cdp.pii on a generated, labelled corpus of support-ticket texts.

    python bench/pii_eval.py [--per-language N]

The corpus is generated with a fixed seed (random.Random(7)) in English, German, Portuguese, French,
Spanish, Chinese and Japanese. Planted identifiers are valid (check digits computed with python-stdnum /
phonenumbers), some with a context word and some without; distractors (order and tracking numbers, SKUs,
dates, amounts, versions) surround them.

Match rule: a predicted span is a true positive when it has the same entity type as a gold span and their
character overlap is at least half of their union (IoU >= 0.5); each gold span is matched at most once.
Unmatched predictions are false positives, unmatched gold spans false negatives. The "by category" line
applies the same rule with types replaced by their data category (CN_MOBILE and PHONE_NUMBER are both
user.contact.phone_number), which is what ingestion decisions use.

Accuracy only, and deterministic (fixed corpus, rule-based analysis), so one run is the figure. It times
nothing: speed is bench/pii_throughput.py's, with repeats and a baseline (the single-run timing this printed
before is gone).
"""

from __future__ import annotations

import argparse
import random
import string
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from stdnum import iban, luhn
from stdnum.br import cnpj, cpf
from stdnum.eu import vat
from stdnum.iso7064 import mod_11_2
from stdnum.jp import in_ as my_number

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from cdp.pii import ENTITY_CATEGORIES, analyze_batch  # noqa: E402

Span = tuple[int, int, str]  # start, end, label

TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Hi, order #{ORDER} placed on {DATE} never arrived. Please call me at {PHONE_NUMBER}.",
        "My email changed to {EMAIL_ADDRESS}, please update my account. Tracking {TRACKING} shows nothing.",
        "I was charged {AMOUNT} twice on my card {CREDIT_CARD}, order {ORDER}.",
        "For the payroll form: National Insurance number {UK_NINO}.",
        "Login blocked from IP {IP_ADDRESS} since the update to version {VERSION}.",
        "Please refund to IBAN {IBAN_CODE}, invoice {ORDER}.",
        "Contact: {EMAIL_ADDRESS} / {PHONE_NUMBER}",
        "Item {SKU} arrived broken, order {ORDER}, paid {AMOUNT} on {DATE}.",
        "You can reach me on {PHONE_NUMBER} any time.",
    ],
    "de": [
        "Hallo, meine Bestellung {ORDER} vom {DATE} ist nicht angekommen. Telefon: {PHONE_NUMBER}",
        "Bitte die Rechnung mit USt-IdNr. {EU_VAT} ausstellen, Betrag {AMOUNT}.",
        "Erstattung bitte auf IBAN {IBAN_CODE}, Sendungsnummer {TRACKING}.",
        "Meine neue E-Mail-Adresse ist {EMAIL_ADDRESS}.",
        "Artikel {SKU} defekt, Bestellnummer {ORDER}, bezahlt am {DATE}.",
        "Sie erreichen mich unter {PHONE_NUMBER}.",
        "Zahlung mit Kreditkarte {CREDIT_CARD} fehlgeschlagen, Auftrag {ORDER}.",
    ],
    "pt": [
        "Olá, meu CPF é {BR_CPF} e o pedido {ORDER} não chegou.",
        "Nota fiscal para o CNPJ {BR_CNPJ}, valor {AMOUNT}.",
        "Pode me ligar no {PHONE_NUMBER} ou escrever para {EMAIL_ADDRESS}.",
        "Pedido {ORDER} de {DATE}, rastreamento {TRACKING}, valor {AMOUNT}.",
        "Documento para cadastro: {BR_CPF}",
        "Cartão {CREDIT_CARD} recusado no pedido {ORDER}.",
    ],
    "fr": [
        "Merci de facturer au n° TVA {EU_VAT}, commande {ORDER}.",
        "Mon téléphone : {PHONE_NUMBER}, colis {TRACKING}.",
        "Remboursement sur le compte IBAN {IBAN_CODE} svp, montant {AMOUNT}.",
        "Commande {ORDER} du {DATE} reçue, merci !",
    ],
    "es": [
        "Mi teléfono es {PHONE_NUMBER}, pedido {ORDER}.",
        "Factura con IVA {EU_VAT}, importe {AMOUNT}.",
        "Escríbanme a {EMAIL_ADDRESS}, seguimiento {TRACKING}.",
        "El pedido {ORDER} del {DATE} llegó roto, artículo {SKU}.",
    ],
    "zh": [
        "你好，我的订单{ORDER}还没有收到，手机{CN_MOBILE}。",
        "身份证号码{CN_RESIDENT_ID}请核对",
        "请发到邮箱{EMAIL_ADDRESS}，谢谢",
        "快递单号{TRACKING}一直没有更新，金额{AMOUNT}。",
        "联系电话：{PHONE_NUMBER}",
        "信用卡{CREDIT_CARD}被扣款两次，订单{ORDER}",
        "收件人{CN_MOBILE}放门口就行",
        "{DATE}下的订单{ORDER}，商品{SKU}有质量问题",
    ],
    "ja": [
        "注文番号{ORDER}の件です。電話：{PHONE_NUMBER}",
        "マイナンバーは{JP_MY_NUMBER}です。",
        "メールアドレスを{EMAIL_ADDRESS}に変更してください。",
        "{DATE}に注文した商品{SKU}がまだ届きません。追跡番号{TRACKING}",
        "カード{CREDIT_CARD}の請求が二重になっています。",
        "お届け先の連絡先は{PHONE_NUMBER}です",
    ],
}
PHONE_REGION = {"en": "US", "de": "DE", "pt": "BR", "fr": "FR", "es": "ES", "zh": "CN", "ja": "JP"}
VAT_COUNTRY = {"de": "DE", "fr": "FR", "es": "ES"}
IBAN_FORMAT = {"en": ("GB", "AAAA", 14), "de": ("DE", "", 18), "fr": ("FR", "", 23), "es": ("ES", "", 20)}
CARD_PREFIXES = ["4", "51", "55", "2221", "34", "37", "6011", "35", "62"]
CN_REGIONS = ["110105", "310104", "440305", "330106", "510107", "420106"]
EMAIL_NAMES = [
    "anna.schmidt",
    "joao.silva",
    "li.na",
    "taro.yamada",
    "m.dupont",
    "jgarcia",
    "kim_lee",
    "x.y+shop",
]
EMAIL_DOMAINS = [
    "example.com",
    "mail.example.de",
    "exemplo.com.br",
    "example.cn",
    "example.co.jp",
    "example.fr",
]


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def until_valid(make: Callable[[], str], valid: Callable[[str], bool]) -> str:
    for _ in range(10_000):
        value = make()
        if valid(value):
            return value
    raise RuntimeError("no valid value generated")


def gen_phone(rng: random.Random, region: str) -> str:
    kind = rng.choice([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE])
    if region == "CN":  # Chinese mobiles are CN_MOBILE; the PHONE_NUMBER slot gets a landline
        kind = PhoneNumberType.FIXED_LINE
    nsn = str(phonenumbers.example_number_for_type(region, kind).national_number)

    def make() -> str:
        return nsn[:-4] + digits(rng, 4)

    number = phonenumbers.parse(
        until_valid(make, lambda n: phonenumbers.is_valid_number(phonenumbers.parse(n, region))), region
    )
    fmt = rng.choice([PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL])
    return phonenumbers.format_number(number, fmt)


def gen_cn_mobile(rng: random.Random) -> str:
    number = until_valid(
        lambda: rng.choice(["13", "15", "18", "17", "19"]) + digits(rng, 9),
        lambda n: phonenumbers.is_valid_number(phonenumbers.parse(n, "CN")),
    )
    return rng.choice([number, f"+86 {number}", f"{number[:3]} {number[3:7]} {number[7:]}"])


def gen_resident_id(rng: random.Random) -> str:
    body = f"{rng.choice(CN_REGIONS)}{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += digits(rng, 3)
    return body + mod_11_2.calc_check_digit(body)


def gen_cpf(rng: random.Random) -> str:
    number = until_valid(lambda: digits(rng, 11), lambda n: cpf.is_valid(n) and len(set(n)) > 1)
    return cpf.format(number) if rng.random() < 0.7 else number


def gen_cnpj(rng: random.Random) -> str:
    base = digits(rng, 8) + "0001"
    number = base + cnpj.calc_check_digits(base)
    return cnpj.format(number) if rng.random() < 0.7 else number


def gen_my_number(rng: random.Random) -> str:
    base = digits(rng, 11)
    number = base + my_number.calc_check_digit(base)
    return rng.choice([number, f"{number[:4]} {number[4:8]} {number[8:]}", f"{number[:4]}-{number[4:8]}-{number[8:]}"])


def gen_nino(rng: random.Random) -> str:
    first, second = rng.choice("ABCEGHJKLMNOPRSTWXYZ"), rng.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
        first = "A"
    number = first + second + digits(rng, 6) + rng.choice("ABCD")
    return number if rng.random() < 0.6 else f"{number[:2]} {number[2:4]} {number[4:6]} {number[6:8]} {number[8]}"


def gen_vat(rng: random.Random, country: str) -> str:
    length = {"DE": 9, "FR": 11, "ES": 9}[country]
    make = (lambda: "ESB" + digits(rng, 8)) if country == "ES" else (lambda: country + digits(rng, length))
    return until_valid(make, vat.is_valid)


def gen_iban(rng: random.Random, language: str) -> str:
    country, letters, length = IBAN_FORMAT[language]
    bban = letters + digits(rng, length)
    number = country + iban.calc_check_digits(country + "00" + bban) + bban
    return number if rng.random() < 0.5 else " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def gen_card(rng: random.Random) -> str:
    prefix = rng.choice(CARD_PREFIXES)
    length = 15 if prefix in {"34", "37"} else 16
    body = prefix + digits(rng, length - len(prefix) - 1)
    number = body + luhn.calc_check_digit(body)
    if rng.random() < 0.5:
        return number
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def gen_ip(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return "2001:db8:" + ":".join(f"{rng.randrange(1, 65536):x}" for _ in range(3)) + "::" + f"{rng.randrange(1, 999)}"


def gen_email(rng: random.Random) -> str:
    return f"{rng.choice(EMAIL_NAMES)}{rng.randint(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"


def gen_distractor(rng: random.Random, kind: str, language: str) -> str:
    if kind == "ORDER":
        if language == "zh":
            return digits(rng, rng.randint(15, 19))
        return rng.choice(["", "A-", "#"]) + digits(rng, rng.randint(5, 12))
    if kind == "TRACKING":
        return rng.choice(
            [
                "1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
                digits(rng, 12),
                "00" + digits(rng, 18),
                "SF" + digits(rng, 12),
                "JD" + digits(rng, 13),
            ]
        )
    if kind == "DATE":
        y, m, d = 2026, rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y}", f"{y}年{m}月{d}日", f"{m:02d}/{d:02d}/{y}"])
    if kind == "AMOUNT":
        return rng.choice(
            [
                f"{rng.randint(5, 999)}.{rng.randint(0, 99):02d} USD",
                f"{rng.randint(1, 9)}.{rng.randint(100, 999)},90 €",
                f"R$ {rng.randint(10, 999)},90",
                f"¥{rng.randint(1, 99)},800",
                f"{rng.randint(10, 9999)}元",
            ]
        )
    if kind == "SKU":
        return rng.choice([f"SKU-{digits(rng, 5)}-BLK", f"ART {digits(rng, 9)}", f"B0{digits(rng, 8)}"])
    if kind == "VERSION":
        return f"{rng.randint(1, 12)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}" + rng.choice(
            ["", f".{rng.randint(1, 99)}"]
        )
    raise ValueError(kind)


def gen_entity(rng: random.Random, entity: str, language: str) -> str:
    makers: dict[str, Callable[[], str]] = {
        "EMAIL_ADDRESS": lambda: gen_email(rng),
        "PHONE_NUMBER": lambda: gen_phone(rng, PHONE_REGION[language]),
        "CN_MOBILE": lambda: gen_cn_mobile(rng),
        "CN_RESIDENT_ID": lambda: gen_resident_id(rng),
        "BR_CPF": lambda: gen_cpf(rng),
        "BR_CNPJ": lambda: gen_cnpj(rng),
        "JP_MY_NUMBER": lambda: gen_my_number(rng),
        "UK_NINO": lambda: gen_nino(rng),
        "EU_VAT": lambda: gen_vat(rng, VAT_COUNTRY[language]),
        "CREDIT_CARD": lambda: gen_card(rng),
        "IBAN_CODE": lambda: gen_iban(rng, language),
        "IP_ADDRESS": lambda: gen_ip(rng),
    }
    return makers[entity]()


def render(rng: random.Random, template: str, language: str) -> tuple[str, list[Span]]:
    """Fill a template's {SLOTS}; entity slots become gold spans, the others distractors."""
    text, gold, rest = "", [], template
    while "{" in rest:
        before, _, after = rest.partition("{")
        slot, _, rest = after.partition("}")
        text += before
        if slot in ENTITY_CATEGORIES:
            value = gen_entity(rng, slot, language)
            gold.append((len(text), len(text) + len(value), slot))
        else:
            value = gen_distractor(rng, slot, language)
        text += value
    return text + rest, gold


def make_corpus(per_language: int = 150, seed: int = 7) -> list[tuple[str, list[Span]]]:
    """Ticket texts with gold spans; about one in three joins two templates into a longer ticket."""
    rng = random.Random(seed)
    corpus = []
    for language, templates in TEMPLATES.items():
        for _ in range(per_language):
            text, gold = render(rng, rng.choice(templates), language)
            if rng.random() < 0.3:
                more, more_gold = render(rng, rng.choice(templates), language)
                offset = len(text) + 1
                text = f"{text} {more}"
                gold += [(s + offset, e + offset, label) for s, e, label in more_gold]
            corpus.append((text, gold))
    return corpus


def match(gold: list[Span], predicted: list[Span]) -> tuple[list[Span], list[Span], list[Span]]:
    """(true positives, false positives, false negatives) under the IoU >= 0.5, same-label rule."""
    unmatched = list(gold)
    tp, fp = [], []
    for start, end, label in predicted:
        hit = next((g for g in unmatched if g[2] == label and iou((start, end), g[:2]) >= 0.5), None)
        if hit is None:
            fp.append((start, end, label))
        else:
            unmatched.remove(hit)
            tp.append(hit)
    return tp, fp, unmatched


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Characters shared by two spans over characters covered by either."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0])) / (max(a[1], b[1]) - min(a[0], b[0]))


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-language", type=int, default=150)
    parser.add_argument("--show-errors", type=int, default=0, help="print up to N missed / spurious spans")
    args = parser.parse_args()

    corpus = make_corpus(args.per_language)
    predictions = analyze_batch([text for text, _ in corpus])

    counts: dict[str, Counter[str]] = {"type": Counter(), "category": Counter()}
    per_type: dict[str, Counter[str]] = {}
    errors = []
    for (text, gold), findings in zip(corpus, predictions, strict=True):
        predicted = [(f.start, f.end, f.entity_type) for f in findings]
        tp, fp, fn = match(gold, predicted)
        for kind, spans in (("tp", tp), ("fp", fp), ("fn", fn)):
            counts["type"][kind] += len(spans)
            for *_, label in spans:
                per_type.setdefault(label, Counter())[kind] += 1
        errors += [(kind, label, text[s:e], text) for kind, spans in (("FP", fp), ("FN", fn)) for s, e, label in spans]
        category = ENTITY_CATEGORIES.get
        ctp, cfp, cfn = match(
            [(s, e, category(t, t)) for s, e, t in gold], [(s, e, category(t, t)) for s, e, t in predicted]
        )
        for kind, spans in (("tp", ctp), ("fp", cfp), ("fn", cfn)):
            counts["category"][kind] += len(spans)

    gold_total = sum(len(g) for _, g in corpus)
    print(f"corpus: {len(corpus)} texts, {len(TEMPLATES)} languages, {gold_total} planted entities, seed 7")
    print("match rule: same type and span IoU >= 0.5; each gold span matched once\n")
    print(f"{'entity':<16}{'gold':>6}{'tp':>6}{'fp':>6}{'fn':>6}{'precision':>11}{'recall':>8}{'f1':>7}")
    rows = [
        *sorted(per_type.items()),
        ("overall (micro)", counts["type"]),
        ("by category", counts["category"]),
    ]
    for name, c in rows:
        p, r, f = prf(c["tp"], c["fp"], c["fn"])
        gold_n = c["tp"] + c["fn"]
        print(f"{name:<16}{gold_n:>6}{c['tp']:>6}{c['fp']:>6}{c['fn']:>6}{p:>11.3f}{r:>8.3f}{f:>7.3f}")
    for kind, label, span, text in errors[: args.show_errors]:
        print(f"{kind} {label:<15} {span!r:<32} in {text!r}")


if __name__ == "__main__":
    main()
