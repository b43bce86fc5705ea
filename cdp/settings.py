"""Process configuration, read from CDP_* environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore")

    data_dir: Path = Path("./cdp-data")
    database_url: str = ""  # default: sqlite under data_dir
    keystore_url: str = ""  # default: a separate sqlite file under data_dir, never in the data database
    master_key: str = ""  # base64 of 32 bytes; or "v2:<b64>,v1:<b64>" to keep old versions for unwrapping
    master_key_file: Path | None = None  # default: data_dir/master.key (0600, made by `cdp keys init`)
    env: str = "development"  # "production" turns off introspection and the GraphQL IDE
    base_currency: str = "USD"
    dek_cache_size: int = 10_000
    # Longest string accepted anywhere in an event (ticket bodies, reviews, undeclared fields): PII analysis
    # costs ~25 µs per character of number-dense text, so this bounds one value's analysis to about half a second.
    max_text_chars: int = 20_000
    # A signed audit checkpoint is written after an audited commit at most this often per process (0: after every
    # one); a commit inside the interval is checkpointed when it ends, or at shutdown. Entries after the newest
    # checkpoint are not yet protected against being cut off the log's end (docs/robustness.md).
    audit_checkpoint_seconds: float = 1.0
    # PostgreSQL, per process and database: connections kept open, and as many more opened under load.
    database_pool_size: int = 10
    # The databases are reached through a transaction-pooling pooler (pgbouncer pool_mode = transaction): no
    # server-side prepared statements, which live on one server connection the next transaction may not get.
    database_pooler: bool = False

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'cdp.db'}"

    def resolved_keystore_url(self) -> str:
        return self.keystore_url or f"sqlite:///{self.data_dir / 'keys.db'}"

    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def production(self) -> bool:
        return self.env == "production"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
