"""Settings of the data-subject-rights machinery (CDP_* environment variables)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from cdp.settings import get_settings


class DsrSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore")

    # outbox: each message an .eml file under mail_outbox_dir (default: CDP_DATA_DIR/outbox); smtp: a mail server.
    mail_transport: Literal["outbox", "smtp"] = "outbox"
    mail_outbox_dir: Path | None = None
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

    def resolved_outbox_dir(self) -> Path:
        return self.mail_outbox_dir or get_settings().data_dir / "outbox"


@lru_cache(maxsize=1)
def get_dsr_settings() -> DsrSettings:
    return DsrSettings()
