"""Settings of the intake service: environment variables prefixed `INTAKE_`, falling back to `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

# Who holds an intake key: a portal files online or by post, a desk files at the counter,
# an importer back-fills anything; the national portal connector files nothing and reads
# the applicants of the dossiers it syncs (docs/decisions/0011).
CLIENT_ROLES = ("portal", "desk", "importer", "connector")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")
    service_name: ClassVar[str] = "intake"
    secret_settings: ClassVar[tuple[str, ...]] = ("jwt_secret", "pin_pepper")
    DEMO_PORTAL_KEYS: ClassVar[str] = (
        "dvc-demo:portal:dvc-demo.local-demo-portal-key,"
        "desk-demo:desk:desk-demo.local-demo-desk-key,"
        "legacy-import:importer:legacy-import.local-demo-importer-key,"
        "dvcqg:portal:dvcqg.local-demo-national-portal-key,"
        "national-portal-connector:connector:national-portal-connector.local-demo-key")

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
        return _keys(self.portal_keys)

    def secrets(self) -> dict[str, str]:
        return {**super().secrets(), **{f"{self.variable('portal_keys')}[{p}]": key
                                        for p, _role, key in self.bootstrap_keys()}}

    def published_values(self) -> set[str]:
        return super().published_values() | {k for _p, _r, k in _keys(self.DEMO_PORTAL_KEYS)}


def _keys(setting: str) -> list[tuple[str, str, str]]:
    out = []
    for entry in filter(None, (e.strip() for e in setting.split(","))):
        portal_id, role, key = entry.split(":", 2)
        if role not in CLIENT_ROLES:
            raise ValueError(f"portal {portal_id}: role must be one of {', '.join(CLIENT_ROLES)}")
        out.append((portal_id, role, key))
    return out
