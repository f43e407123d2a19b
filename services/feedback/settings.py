"""Settings of the feedback service: variables prefixed `FEEDBACK_`, else `MOTCUA_`."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.feedback.domain.complaint import ComplaintPolicy
from services.feedback.domain.rating import GuessingPolicy
from shared.notifications.settings import NotificationSettings
from shared.portal_keys import DEMO_PORTAL_KEYS, parse_portal_keys
from shared.rulebook import Rulebook


class Settings(NotificationSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_", extra="ignore")
    service_name: ClassVar[str] = "feedback"
    secret_settings: ClassVar[tuple[str, ...]] = ("jwt_secret", "pin_pepper")

    port: int = 8004
    max_pin_failures: int = Field(default=5, ge=1, description="wrong PINs per dossier per window")
    max_source_pin_failures: int = Field(default=30, ge=1, description="wrong PINs per source "
                                         "address per window, whatever the dossier")
    pin_failure_window_s: int = Field(default=900, ge=1)
    portal_keys: str = Field(
        default=DEMO_PORTAL_KEYS,
        description="portal_id:role:key entries whose holders may submit complaints for "
                    "citizens (the portals' intake keys; the desk and the hotline use officer "
                    "tokens). Empty: none.")
    complaint_watch_interval_s: float = Field(default=5.0, gt=0)

    def complaint_keys(self) -> list[tuple[str, str, str]]:
        return parse_portal_keys(self.portal_keys)

    def secrets(self) -> dict[str, str]:
        return {**super().secrets(), **{f"{self.variable('portal_keys')}[{p}]": key
                                        for p, _role, key in self.complaint_keys()}}

    def published_values(self) -> set[str]:
        return super().published_values() | {k for _p, _r, k in
                                              parse_portal_keys(DEMO_PORTAL_KEYS)}

    @staticmethod
    def complaint_policy(rulebook: Rulebook) -> ComplaintPolicy:
        d = rulebook.data.defaults
        return ComplaintPolicy(d.complaint_refuse_working_days,
                               d.complaint_request_info_working_days,
                               d.complaint_answer_working_days,
                               d.complaint_publish_working_days)

    def guessing_policy(self) -> GuessingPolicy:
        return GuessingPolicy(per_dossier=self.max_pin_failures,
                              per_source=self.max_source_pin_failures,
                              window=timedelta(seconds=self.pin_failure_window_s))
