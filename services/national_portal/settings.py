"""Settings of the national portal connector: variables prefixed `NATIONAL_PORTAL_`, else
`MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NATIONAL_PORTAL_", extra="ignore")
    service_name: ClassVar[str] = "national_portal"
    secret_settings: ClassVar[tuple[str, ...]] = ("jwt_secret", "portal_password",
                                                  "intake_key")
    DEFAULT_PASSWORD: ClassVar[str] = "local-development-only-portal-password"
    DEFAULT_INTAKE_KEY: ClassVar[str] = "national-portal-connector.local-demo-key"

    port: int = 8006
    portal_url: str = Field(default="http://127.0.0.1:8090", description="the national "
                            "portal's base URL (a local stand-in by default)")
    auth_path: str = "/api/auth"
    integration_path: str = "/api/integration"
    portal_username: str = "motcua-hai-phong"
    portal_password: str = DEFAULT_PASSWORD
    portal_timeout_s: float = Field(default=10.0, gt=0)
    intake_url: str = Field(default="http://127.0.0.1:8001", description="where the "
                            "applicants are looked up")
    intake_key: str = Field(default=DEFAULT_INTAKE_KEY, description="intake's connector key")
    national_filer: str = Field(default="dvcqg", description="the portal id the national "
                                "portal files dossiers with at intake (their code is kept)")
    batch_size: int = Field(default=50, ge=1, le=500)
    rate_per_s: float = Field(default=20.0, gt=0, description="documents sent per second at "
                              "most (policy): a backlog does not flood the portal")
    burst: int = Field(default=100, ge=1)
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_cap_s: float = Field(default=300.0, gt=0)
    breaker_failures: int = Field(default=5, ge=1, description="failed batches in a row "
                                  "before sending stops for breaker_open_s")
    breaker_open_s: float = Field(default=30.0, gt=0)
    interval_s: float = Field(default=1.0, gt=0, description="how often the sender looks for "
                              "changes when idle")

    def published_values(self) -> set[str]:
        return super().published_values() | {self.DEFAULT_PASSWORD, self.DEFAULT_INTAKE_KEY}
