"""Settings of the processing service: variables prefixed `PROCESSING_`, else `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROCESSING_", extra="ignore")
    service_name: ClassVar[str] = "processing"

    port: int = 8002
    watchdog_interval_s: float = Field(default=5.0, gt=0)
    watchdog_batch_size: int = Field(default=200, ge=1)
