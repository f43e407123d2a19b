"""Settings of the feedback service: variables prefixed `FEEDBACK_`, else `MOTCUA_`."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.feedback.domain.rating import GuessingPolicy
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_", extra="ignore")
    service_name: ClassVar[str] = "feedback"
    secret_settings: ClassVar[tuple[str, ...]] = ("jwt_secret", "pin_pepper")

    port: int = 8004
    max_pin_failures: int = Field(default=5, ge=1, description="wrong PINs per dossier per window")
    max_source_pin_failures: int = Field(default=30, ge=1, description="wrong PINs per source "
                                         "address per window, whatever the dossier")
    pin_failure_window_s: int = Field(default=900, ge=1)

    def guessing_policy(self) -> GuessingPolicy:
        return GuessingPolicy(per_dossier=self.max_pin_failures,
                              per_source=self.max_source_pin_failures,
                              window=timedelta(seconds=self.pin_failure_window_s))
