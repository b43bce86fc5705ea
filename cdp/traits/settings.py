"""Settings of computed traits and marketing aggregates (CDP_* environment variables)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class TraitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore")

    churn_days: int = 30  # inactive this long: at risk; twice as long: churned
    clv_horizon_weeks: float = 52.0  # predicted purchases and CLV over the next 12 months
    privacy_k: int = 10  # aggregates never describe a group smaller than this


@lru_cache(maxsize=1)
def get_trait_settings() -> TraitSettings:
    return TraitSettings()
