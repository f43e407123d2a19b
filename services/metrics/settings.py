"""Settings of the metrics service: variables prefixed `METRICS_`, else `MOTCUA_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")
    service_name: ClassVar[str] = "metrics"

    port: int = 8005
    consumer_batch_size: int = Field(default=5000, ge=1, description="events a member folds "
                                     "in one transaction at most (a backlog's batches)")
    consumer_fetch_max_wait_ms: int = Field(default=50, ge=0, le=10_000, description=(
        "the live figures' freshness: a shorter wait for company than other consumers'"))
    rebuild_workers: int = Field(default=2, ge=1, description="`metrics rebuild`: processes "
                                 "that replay the partitions and fold the dossiers at once")
    min_sample: int = Field(default=30, ge=1, description="rankings: smaller units are listed "
                                                          "but not ranked (policy)")
    public_read: bool = Field(default=True, description="figures are public (no personal data); "
                                                        "false requires a bearer token")
    live_interval_s: float = Field(default=0.5, gt=0, description="how often changed units "
                                   "are recomputed and streamed (freshness stays under 1 s)")
    live_full_refresh_s: float = Field(default=30.0, gt=0)
    live_index_interval_s: float = Field(default=5.0, gt=0, description="how often the "
                                         "national index of the units that changed is "
                                         "recomputed and streamed")
    judged_cache_entries: int = Field(default=4096, ge=0, description="figures judged at a "
                                      "past moment kept until their units change (0: none)")
    judged_cache_max_age_s: float = Field(default=60.0, gt=0, description="a kept figure is "
                                          "counted again after this long, whatever was heard")
