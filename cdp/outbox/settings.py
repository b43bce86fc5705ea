"""Settings of outbound deliveries (CDP_OUTBOX_* environment variables)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class OutboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore")

    outbox_max_attempts: int = 8
    outbox_backoff_seconds: float = 30.0  # first retry after this, doubling each time
    outbox_timeout_seconds: float = 10.0


@lru_cache(maxsize=1)
def get_outbox_settings() -> OutboxSettings:
    return OutboxSettings()
