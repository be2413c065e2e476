"""Configuration from the environment (BIG_APP_*), validated by pydantic-settings."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIG_APP_")

    database_url: str = "sqlite+pysqlite:///:memory:"
    redis_url: str = "redis://localhost:6379/0"
    upstream_url: str = "https://example.invalid"
    jwt_secret: str = "change-me"  # noqa: S105 - a placeholder; set BIG_APP_JWT_SECRET
    title: str = "large-app"
