"""Settings of the postal service: variables prefixed `POSTAL_`, else `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="POSTAL_", extra="ignore")
    service_name: ClassVar[str] = "postal"
    DEFAULT_COURIERS: ClassVar[str] = "vnpost:local-development-only-courier-secret"

    port: int = 8003
    courier_secrets: str = Field(
        default=DEFAULT_COURIERS,
        description="courier_id:secret pairs, comma-separated (the webhook's HMAC keys)")
    signature_tolerance_s: int = Field(default=300, ge=1,
                                       description="how old a signed request may be")
    max_delivery_attempts: int = Field(default=3, ge=1,
                                       description="failed deliveries before the result goes "
                                                   "back to the desk (policy)")

    def couriers(self) -> dict[str, str]:
        return _couriers(self.courier_secrets)

    def secrets(self) -> dict[str, str]:
        return {**super().secrets(), **{f"{self.variable('courier_secrets')}[{c}]": secret
                                        for c, secret in self.couriers().items()}}

    def published_values(self) -> set[str]:
        return super().published_values() | set(_couriers(self.DEFAULT_COURIERS).values())


def _couriers(setting: str) -> dict[str, str]:
    pairs = (e.split(":", 1) for e in setting.split(",") if ":" in e)
    return {c.strip(): s.strip() for c, s in pairs}
