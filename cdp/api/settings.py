"""Settings of the GraphQL door (CDP_* environment variables)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

# Where the repository keeps its trusted documents; an installed deployment points CDP_TRUSTED_MANIFEST elsewhere.
DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "graphql" / "operations" / "manifest.json"


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore")

    # When true, app roles (frontend_app, marketing_tool) may run only documents of the manifest; staff roles
    # may still send ad-hoc queries.
    trusted_documents_only: bool = False
    trusted_manifest: Path = DEFAULT_MANIFEST
    # GraphQL requests worked at once per server process; the others wait their turn in arrival order. The GIL
    # runs one thread's Python at a time, so more threads only share the process among more requests: with 32
    # in flight each took 32 times its own CPU time to finish, and at first none finished at all.
    request_threads: int = 4


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    return ApiSettings()
