"""Settings of the feedback service: variables prefixed `FEEDBACK_`, else `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_", extra="ignore")
    service_name: ClassVar[str] = "feedback"

    port: int = 8004
    max_pin_failures: int = Field(default=5, ge=1, description="wrong PINs per dossier per window")
    pin_failure_window_s: int = Field(default=900, ge=1)
