"""Service settings read from the environment with pydantic-settings.

Each service subclasses :class:`ServiceSettings` with its own prefix (``INTAKE_``,
``PROCESSING_`` ...). Every field also falls back to a project-wide ``MOTCUA_`` variable,
so one ``MOTCUA_DATABASE_URL`` can serve a single-machine install while a multi-host one
sets ``INTAKE_DATABASE_URL`` etc. per service.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.collector import DEFAULT_THRESHOLDS
from shared.db import Timeouts

DEFAULT_DATABASE_URL = "postgresql://motcua:motcua@127.0.0.1:25432/motcua"
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:19092"
DEFAULT_RULEBOOK = Path(__file__).parent / "rulebook" / "demo_province.json"
SECRET_MIN_LENGTH = 32
# Values that were ever published with this code (defaults, old compose fall-backs): a
# production service refuses them, whatever the setting.
PUBLISHED_SECRETS = frozenset({
    "change-me-in-production-32-characters",
    "change-me-in-production-pepper",
    "change-me-in-production-courier-secret",
    "test-suite-jwt-secret-0123456789",
})


class _ProjectWideFallback(PydanticBaseSettingsSource):
    """Reads ``MOTCUA_<FIELD>`` for fields the service-prefixed variables left unset."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        value = os.environ.get(f"MOTCUA_{field_name.upper()}")
        return value, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value = os.environ.get(f"MOTCUA_{name.upper()}")
            if value is not None:  # a list or tuple is JSON, as in the prefixed variable
                values[name] = (self.decode_complex_value(name, field, value)
                                if self.field_is_complex(field) else value)
        return values


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``service_name`` and the env prefix."""

    model_config = SettingsConfigDict(extra="ignore")
    service_name: ClassVar[str] = "service"
    # The secret settings this service relies on (checked before a production start).
    secret_settings: ClassVar[tuple[str, ...]] = ("jwt_secret",)

    env: Literal["production", "local"] = Field(
        default="production",
        description="production (the default) refuses to start with a published default or "
                    "a short secret; `make run`, `make test` and the demo set local")

    database_url: str = DEFAULT_DATABASE_URL
    database_pool_min: int = 2
    database_pool_max: int = 10
    database_acquire_timeout_s: float = Field(default=10.0, ge=0, description="longest wait for "
                                              "a pooled connection (0: none); then 503")
    database_statement_timeout_ms: int = Field(default=30_000, ge=0)
    database_lock_timeout_ms: int = Field(default=5_000, ge=0)
    database_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0)
    kafka_bootstrap: str = DEFAULT_KAFKA_BOOTSTRAP
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$",
                              description="prepended to every topic name, e.g. 'staging.'")
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    outbox_poll_interval_s: float = Field(default=0.5, gt=0)
    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_linger_ms: float = Field(default=5.0, ge=0,
                                    description="wait after a wake-up to publish in batches")
    outbox_retention_hours: float = Field(default=24.0, ge=0)
    consumer_batch_size: int = Field(default=500, ge=1)
    # A fetch answered as soon as one record is there brings one or two events: a consumer
    # then pays a poll, a transaction and an offset commit for each (decision 0031).
    consumer_fetch_min_bytes: int = Field(default=256 * 1024, ge=1, description=(
        "how much the broker gathers for a consumer before it answers a fetch"))
    consumer_fetch_max_wait_ms: int = Field(default=250, ge=0, le=10_000, description=(
        "how long the broker waits at most to gather consumer_fetch_min_bytes: what an event "
        "may wait for company when the load is light"))
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    forwarded_allow_ips: str = Field(default="127.0.0.1", description="the reverse proxies "
                                     "whose X-Forwarded-For names the client (comma-separated, "
                                     "or * when only proxies can reach the service)")
    public_url: str | None = Field(default=None, description="where clients reach this service "
                                   "(the OpenAPI document's server); default http://127.0.0.1:<port>")
    problem_type_base: str = Field(default="/problems/", max_length=200, description=(
        "what problem `type` URIs start with, followed by the problem's slug (e.g. "
        "https://motcua.example-province.vn/problems/); relative by default"))
    status_lookup_url: str = Field(
        default="https://dichvucong.gov.vn/tra-cuu-ho-so?ma={code}", max_length=300,
        description="the printed forms' QR code: the province's status look-up page, with "
                    "{code} for the dossier code")
    port: int = 8000
    workers: int = Field(default=1, ge=1, le=32, description="uvicorn worker processes; each "
                         "runs its own relay candidate and consumer group member")
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_header_bytes: int = Field(default=16_384, ge=1024, description="all request headers "
                                  "together; more is a 431 before anything reads them")
    body_timeout_s: float = Field(default=15.0, gt=0, description="longest wait for the next "
                                  "piece of a request body; then 408")
    keep_alive_s: int = Field(default=5, ge=1, description="idle keep-alive connections "
                                "are closed after this")
    gc_thresholds: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        default=DEFAULT_THRESHOLDS, description="the garbage collector's generation "
        "thresholds, set with the start-up heap frozen once the service has started "
        "(shared/collector.py); JSON, e.g. [10000, 20, 20]")
    http_impl: Literal["httptools", "h11"] = Field(
        default="httptools", description="h11 also caps the header bytes while reading them "
                                         "(slower); a reverse proxy in front should anyway")
    metrics_scrape_token: str | None = Field(
        default=None, min_length=16,
        description="if set, /metrics answers only `Authorization: Bearer <token>` (Prometheus' "
                    "`authorization` scrape setting); unset, /metrics is open (keep it on an "
                    "internal network)")
    # Officer tokens (JWT). In production: the province's identity provider's (OIDC); the
    # HS256 shared secret is for local runs only, and a production start refuses it.
    jwt_secret: str = Field(default="local-development-only-jwt-secret-change-me", min_length=32,
                            description="HS256 tokens' shared secret: local runs only")
    jwt_audience: str = Field(default="motcua", description="the audience every token names")
    jwt_issuer: str = Field(default="motcua-idp", description="the issuer of HS256 tokens")
    oidc_issuer: str = Field(default="", description="the identity provider's issuer URL; "
                             "its /.well-known/openid-configuration names the keys. Required "
                             "in production")
    oidc_role_claim: str = Field(default="role", description="the claim with the role (a "
                                 "dotted path, e.g. realm_access.roles; a string or a list)")
    oidc_units_claim: str = Field(default="units", description="the claim with the unit codes "
                                  "(a list, or a string separated by spaces or commas)")
    oidc_role_map: str = Field(default="", description="provider-role:our-role,... (e.g. "
                               "motcua-can-bo:officer); unmapped names are taken as they are")
    oidc_jwks_cache_s: float = Field(default=300.0, gt=0, le=86400, description="how long the "
                                     "provider's keys are kept before they are fetched again")
    oidc_min_refresh_s: float = Field(default=30.0, ge=0, le=3600, description="a token "
                                      "naming an unknown key fetches the keys again, at most "
                                      "this often")
    oidc_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Keyed hash of receipt PINs; intake and feedback share it.
    pin_pepper: str = Field(default="local-development-only-pin-pepper", min_length=16)
    rulebook_path: str = Field(default=str(DEFAULT_RULEBOOK),
                               description="versioned catalog, calendar and policies")

    def db_timeouts(self) -> Timeouts:
        return Timeouts(acquire_s=self.database_acquire_timeout_s,
                        statement_ms=self.database_statement_timeout_ms,
                        lock_ms=self.database_lock_timeout_ms,
                        idle_in_transaction_ms=self.database_idle_in_transaction_timeout_ms)

    @property
    def db_schema(self) -> str:
        return self.service_name

    def variable(self, name: str) -> str:
        """The environment variable that sets field ``name`` (the service's own prefix)."""
        return f"{self.model_config.get('env_prefix') or 'MOTCUA_'}{name.upper()}"

    def secrets(self) -> dict[str, str]:
        """Each secret in use, by the variable that sets it; services add their own. In
        production no HS256 secret is in use (the identity provider signs the tokens)."""
        return {self.variable(n): str(getattr(self, n)) for n in self.secret_settings
                if not (n == "jwt_secret" and self.env == "production")}

    def published_values(self) -> set[str]:
        """Secret values anyone can read in this repository."""
        defaults = {str(f.default) for f in type(self).model_fields.values()
                    if isinstance(f.default, str)}
        return defaults | PUBLISHED_SECRETS

    def production_refusals(self) -> list[str]:
        """Why this configuration may not run in production; empty when it may, or in local
        mode."""
        if self.env != "production":
            return []
        published = self.published_values()
        refusals = []
        for variable, value in self.secrets().items():
            if value in published:
                refusals.append(f"{variable} is a default published with the code; set a secret "
                                "of your own")
            elif len(value) < SECRET_MIN_LENGTH:
                refusals.append(f"{variable} is shorter than {SECRET_MIN_LENGTH} characters")
        issuer = self.variable("oidc_issuer")
        if "jwt_secret" in self.model_fields_set:
            refusals.append(f"{self.variable('jwt_secret')} is set: HS256 shared secrets are "
                            f"for local runs only; in production officers' tokens come from "
                            f"the province's identity provider ({issuer})")
        if not self.oidc_issuer:
            refusals.append(f"{issuer} is not set: in production officers' tokens are checked "
                            "against the province's identity provider (OIDC discovery and "
                            "its JWKS)")
        elif not self.oidc_issuer.startswith("https://"):
            refusals.append(f"{issuer} must be an https URL in production")
        return refusals

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _ProjectWideFallback(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )
