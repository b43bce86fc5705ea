"""Settings of the data-subject-rights machinery (CDP_* environment variables)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class DsrSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "privacy@localhost"
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    verification_ttl_minutes: int = 30
    verification_max_attempts: int = 5
    shopify_api_secret: str = ""  # unset: the Shopify webhook refuses every request (503)
    # Deliveries triggered longer ago are refused (replays); the same customer and topic within it is one request.
    shopify_replay_window_seconds: int = 3600


@lru_cache(maxsize=1)
def get_dsr_settings() -> DsrSettings:
    return DsrSettings()
