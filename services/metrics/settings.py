"""Settings of the metrics service: environment variables prefixed `METRICS_`, falling back to `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")
    service_name: ClassVar[str] = "metrics"

    port: int = 8005
