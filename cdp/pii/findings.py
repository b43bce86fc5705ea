"""Value types of PII detection, importable without loading presidio or spaCy."""

from __future__ import annotations

from dataclasses import dataclass

# Scores are presidio confidences in [0, 1]. A finding at or above this is reported by default: strong
# formats (email, IBAN, formatted CPF, resident id) reach it alone, weak ones (bare 11/12-digit numbers,
# national-format phone numbers) only with a context word such as "CPF" or "电话" near them.
DEFAULT_SCORE_THRESHOLD = 0.5

# Entity type -> data category of the data dictionary (fideslang-style keys, see policies/fields.yaml).
ENTITY_CATEGORIES: dict[str, str] = {
    "EMAIL_ADDRESS": "user.contact.email",
    "PHONE_NUMBER": "user.contact.phone_number",
    "CN_MOBILE": "user.contact.phone_number",
    "CN_RESIDENT_ID": "user.government_id",
    "BR_CPF": "user.government_id",
    "JP_MY_NUMBER": "user.government_id",
    "UK_NINO": "user.government_id",
    "BR_CNPJ": "user.financial.tax_id",
    "EU_VAT": "user.financial.tax_id",
    "CREDIT_CARD": "user.financial.credit_card",
    "IBAN_CODE": "user.financial.bank_account",
    "IP_ADDRESS": "user.device.ip_address",
    # Only produced when an installed spaCy model with NER is configured (CDP_SPACY_MODEL).
    "PERSON": "user.name",
    "LOCATION": "user.contact.address",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected entity: a span of the analyzed text, never the text itself."""

    entity_type: str
    start: int
    end: int
    score: float

    @property
    def category(self) -> str:
        return ENTITY_CATEGORIES.get(self.entity_type, "user")
