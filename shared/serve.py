"""``python -m services.<name>.main``: refuse an unsafe production configuration, then run
the app under uvicorn (uvloop and httptools when installed)."""

from __future__ import annotations

import logging

from shared.logging import configure_logging
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


def run_service(app_path: str, settings: ServiceSettings) -> None:
    import uvicorn

    configure_logging(settings.service_name, settings.log_level)
    refusals = settings.production_refusals()
    if refusals:
        log.critical("refusing to start in production mode (MOTCUA_ENV=production): %s; "
                     "MOTCUA_ENV=local allows it on a developer's machine", "; ".join(refusals))
        raise SystemExit(2)
    uvicorn.run(app_path, host=settings.host, port=settings.port, factory=True,
                workers=settings.workers, log_config=None, access_log=False,
                timeout_graceful_shutdown=20, timeout_keep_alive=settings.keep_alive_s,
                http=settings.http_impl, h11_max_incomplete_event_size=settings.max_header_bytes,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)
