"""A service's notification sender from its settings: the channels whose settings are given,
the retry policy, and the HTTP client the SMS and Zalo channels share (closed with the
sender). Intake and feedback both wire theirs here."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from shared.clock import Clock
from shared.notifications.channels import (
    Channel,
    SmsGatewayChannel,
    SmtpChannel,
    ZaloZnsChannel,
)
from shared.notifications.sender import NotificationSender
from shared.notifications.settings import NotificationSettings
from shared.retry import Retry

log = logging.getLogger(__name__)


class OwnedNotificationSender(NotificationSender):
    """A sender with the HTTP client its channels share; :meth:`close` stops both."""

    def __init__(self, http: httpx.AsyncClient, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.http = http

    async def close(self) -> None:
        self.stop()
        await self.http.aclose()


def notification_channels(settings: NotificationSettings,
                          http: httpx.AsyncClient) -> dict[str, Channel]:
    """The channels whose settings are given (docs/rules/notifications.md)."""
    channels: dict[str, Channel] = {}
    if settings.smtp_host and settings.smtp_from:
        channels["email"] = SmtpChannel(
            settings.smtp_host, settings.smtp_port, settings.smtp_from,
            starttls=settings.smtp_starttls, tls=settings.smtp_tls,
            username=settings.smtp_user, password=settings.smtp_password,
            timeout_s=settings.notify_timeout_s)
    if settings.sms_url and settings.sms_api_key:
        channels["sms"] = SmsGatewayChannel(http, settings.sms_url, settings.sms_api_key,
                                            settings.sms_sender)
    if settings.zalo_url and settings.zalo_access_token and settings.zalo_template_id:
        channels["zalo"] = ZaloZnsChannel(http, settings.zalo_url, settings.zalo_access_token,
                                          settings.zalo_template_id)
    return channels


def notification_sender(settings: NotificationSettings, pool: asyncpg.Pool,
                        clock: Clock) -> OwnedNotificationSender:
    """One replica at a time sends (the lock is named after the service)."""
    http = httpx.AsyncClient(timeout=settings.notify_timeout_s, follow_redirects=False)
    channels = notification_channels(settings, http)
    log.info("notification channels", extra={"configured": sorted(channels)})
    return OwnedNotificationSender(
        http, pool, channels, clock,
        Retry(settings.notify_retry_base_s, settings.notify_retry_cap_s,
              timedelta(seconds=settings.notify_give_up_s)),
        lock_key=f"{settings.service_name}-notification-sender",
        interval_s=settings.notify_interval_s, batch_size=settings.notify_batch_size,
        timeout_s=settings.notify_timeout_s, concurrency=settings.notify_concurrency)
