"""Settings of the feedback service: environment variables prefixed `FEEDBACK_`, falling back to `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_", extra="ignore")
    service_name: ClassVar[str] = "feedback"

    port: int = 8004
