"""Message catalogs of the privacy centre (cdp/web/messages/<lang>.yaml) and picking the customer's language:
an explicit choice (?lang=, remembered in the session), else the browser's Accept-Language, else English."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

MESSAGES_DIR = Path(__file__).resolve().parent / "messages"
LANGUAGES = ("en", "zh", "ja", "de", "fr", "es", "pt")
DEFAULT = "en"


@dataclass(frozen=True)
class Catalog:
    lang: str
    messages: dict[str, str]
    fallback: dict[str, str]

    def __call__(self, key: str, **values: object) -> str:
        text = self.messages.get(key) or self.fallback[key]
        return text.format(**values) if values else text

    def purpose(self, name: str, description: str) -> tuple[str, str]:
        """A purpose's label and explanation in this language; purposes.yaml's name and description for a
        purpose the catalogs do not cover yet."""
        key = "purpose_" + name.replace(".", "_")
        if key not in self.fallback:
            return name, description
        return self(key), self(key + "_text")


@lru_cache(maxsize=len(LANGUAGES))
def _load(lang: str) -> dict[str, str]:
    data = yaml.safe_load((MESSAGES_DIR / f"{lang}.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def catalog(lang: str) -> Catalog:
    chosen = lang if lang in LANGUAGES else DEFAULT
    return Catalog(chosen, _load(chosen), _load(DEFAULT))


def negotiate(accept_language: str | None) -> str:
    """The supported language the browser prefers most (q-values honoured; zh-CN counts as zh)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else DEFAULT


# Where the customer lives decides the law (and deadline) that applies; endonyms, so no translation is needed.
COUNTRIES = (
    ("DE", "Deutschland"), ("FR", "France"), ("ES", "España"), ("PT", "Portugal"), ("IT", "Italia"),
    ("NL", "Nederland"), ("IE", "Ireland"), ("AT", "Österreich"), ("PL", "Polska"), ("SE", "Sverige"),
    ("GB", "United Kingdom"), ("US", "United States"), ("US-CA", "United States – California"),
    ("CN", "中国"), ("JP", "日本"), ("BR", "Brasil"), ("OTHER", "—"),
)  # fmt: skip
