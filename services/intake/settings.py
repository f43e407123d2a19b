"""Settings of the intake service: environment variables prefixed `INTAKE_`, falling back to `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")
    service_name: ClassVar[str] = "intake"

    port: int = 8001
    portal_keys: str = Field(
        default="dvc-demo:portal:dvc-demo.local-demo-portal-key,"
                "legacy-import:importer:legacy-import.local-demo-importer-key",
        description="portal_id:role:key entries registered (hashed) at start-up; "
                    "for local runs and first installs. Empty to disable.",
    )

    portal_rate_per_s: float = Field(default=300.0, gt=0, description="default per-portal "
                                     "request rate, per replica (portals.rate_per_s overrides)")
    portal_burst: int = Field(default=600, ge=1)
    portal_key_cache_s: float = Field(default=30.0, ge=0, description="how long each replica "
                                      "trusts a key look-up: a revoked key may work this long")

    def bootstrap_keys(self) -> list[tuple[str, str, str]]:
        out = []
        for entry in filter(None, (e.strip() for e in self.portal_keys.split(","))):
            portal_id, role, key = entry.split(":", 2)
            if role not in ("portal", "importer"):
                raise ValueError(f"portal {portal_id}: role must be portal or importer")
            out.append((portal_id, role, key))
        return out
