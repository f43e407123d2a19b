"""Settings of the intake service: environment variables prefixed `INTAKE_`, falling back to `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.notifications.settings import NotificationSettings
from shared.portal_keys import DEMO_PORTAL_KEYS, parse_portal_keys


class Settings(NotificationSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")
    service_name: ClassVar[str] = "intake"
    secret_settings: ClassVar[tuple[str, ...]] = ("jwt_secret", "pin_pepper")
    DEMO_PORTAL_KEYS: ClassVar[str] = DEMO_PORTAL_KEYS

    port: int = 8001
    portal_keys: str = Field(
        default=DEMO_PORTAL_KEYS,
        description="portal_id:role:key entries registered (hashed) at start-up, for local "
                    "runs and first installs; a key registered this way is revoked at the next "
                    "start that no longer lists it. Empty to disable.",
    )

    # Below what one replica serves (about 180-230 filings/s on the reference machine, see
    # tests/perf/RESULTS.md), so that one portal cannot saturate a replica on its own.
    portal_rate_per_s: float = Field(default=100.0, gt=0, description="default per-portal "
                                     "request rate, per replica (portals.rate_per_s overrides)")
    portal_burst: int = Field(default=200, ge=1)
    portal_key_cache_s: float = Field(default=30.0, ge=0, description="how long each replica "
                                      "trusts a key look-up: a revoked key may work this long")
    # Portals' webhooks (docs/rules/webhooks.md).
    webhook_interval_s: float = Field(default=1.0, gt=0, le=60)
    webhook_batch_size: int = Field(default=50, ge=1, le=1000)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_base_s: float = Field(default=30.0, gt=0, description="the first retry's "
                                        "ceiling; doubled per try (full jitter)")
    webhook_retry_cap_s: float = Field(default=3600.0, gt=0)
    webhook_give_up_s: float = Field(default=86400.0, gt=0, description="a delivery that "
                                     "has failed for this long is marked failed")

    def bootstrap_keys(self) -> list[tuple[str, str, str]]:
        return parse_portal_keys(self.portal_keys)

    def secrets(self) -> dict[str, str]:
        return {**super().secrets(), **{f"{self.variable('portal_keys')}[{p}]": key
                                        for p, _role, key in self.bootstrap_keys()}}

    def published_values(self) -> set[str]:
        return super().published_values() | {k for _p, _r, k in parse_portal_keys(self.DEMO_PORTAL_KEYS)}
