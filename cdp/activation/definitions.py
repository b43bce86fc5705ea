"""Trigger definitions, read from policies/triggers.yaml and validated (a bad file names the field)."""

from __future__ import annotations

from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

TRIGGERS_FILE = Path(__file__).resolve().parents[2] / "policies" / "triggers.yaml"
LANGUAGES = ("en", "zh", "ja", "de", "fr", "es", "pt")
TRIGGER_NAMES = ("abandoned_cart", "birthday", "win_back", "review_request")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    named: str
    plain: str


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: str
    messages: dict[str, Message]
    window_minutes: int = Field(default=60, gt=0)
    max_age_hours: int = Field(default=24, gt=0)
    local_time: time = time(9, 0)
    inactive_days: int = Field(default=30, gt=0)
    delay_days: int = Field(default=7, ge=0)
    max_age_days: int = Field(default=30, gt=0)

    @field_validator("messages")
    @classmethod
    def _all_languages(cls, value: dict[str, Message]) -> dict[str, Message]:
        missing = [lang for lang in LANGUAGES if lang not in value]
        if missing:
            raise ValueError(f"messages missing for languages {missing}")
        return value

    def message(self, language: str | None, first_name: str | None) -> tuple[str, str]:
        """(language used, text): the customer's primary language subtag if shipped, else English."""
        lang = (language or "en").replace("_", "-").split("-")[0].lower()
        lang = lang if lang in self.messages else "en"
        template = self.messages[lang]
        return lang, template.named.format(first_name=first_name) if first_name else template.plain


class Cap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max: int = Field(gt=0)
    per_hours: int = Field(gt=0)

    @property
    def period(self) -> timedelta:
        return timedelta(hours=self.per_hours)


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: time
    end: time


class Definitions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    quiet_hours: QuietHours | None = None
    frequency_caps: dict[str, Cap] = Field(default_factory=dict)
    triggers: dict[str, Trigger]

    @field_validator("triggers")
    @classmethod
    def _known(cls, value: dict[str, Trigger]) -> dict[str, Trigger]:
        unknown = sorted(set(value) - set(TRIGGER_NAMES))
        if unknown:
            raise ValueError(f"unknown trigger(s) {unknown}; known: {', '.join(TRIGGER_NAMES)}")
        return value


def load_definitions(path: Path = TRIGGERS_FILE) -> Definitions:
    return Definitions.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def definitions() -> Definitions:
    return load_definitions()
