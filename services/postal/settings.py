"""Settings of the postal service: environment variables prefixed `POSTAL_`, falling back to `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="POSTAL_", extra="ignore")
    service_name: ClassVar[str] = "postal"

    port: int = 8003
