"""The notification channels' settings, written once for every service that notifies
(intake for dossiers, feedback for complaints): ``<SERVICE>_SMTP_HOST`` and the like, or one
``MOTCUA_SMTP_HOST`` for all of them (docs/rules/notifications.md)."""

from __future__ import annotations

from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field

from shared.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    # Applicant notifications (docs/rules/notifications.md). A channel left unset fails its
    # notifications at once, "channel not configured".
    notify_interval_s: float = Field(default=1.0, gt=0, le=60)
    notify_batch_size: int = Field(default=50, ge=1, le=1000)
    notify_concurrency: int = Field(default=8, ge=1, le=64)
    notify_timeout_s: float = Field(default=10.0, gt=0, le=60, description="each try's "
                                    "longest wait for the SMTP server or the gateway")
    notify_retry_base_s: float = Field(default=30.0, gt=0, description="the first retry's "
                                       "ceiling; doubled per try (full jitter)")
    notify_retry_cap_s: float = Field(default=3600.0, gt=0)
    notify_give_up_s: float = Field(default=86400.0, gt=0, description="a notification not "
                                    "sent for this long is marked failed")
    smtp_host: str = Field(default="", description="the SMTP relay; empty: no e-mail")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_from: str = Field(default="", max_length=300, description="e.g. 'Bộ phận Một cửa "
                           "<motcua@haiphong.gov.vn>'; its domain ends the Message-ID")
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: Literal["auto", "required", "off"] = Field(
        default="auto", description="auto: STARTTLS when the server offers it")
    smtp_tls: bool = Field(default=False, description="implicit TLS (port 465)")
    sms_url: str = Field(default="", description="the SMS gateway's send endpoint; empty: "
                         "no SMS")
    sms_api_key: str = Field(default="", description="sent as Authorization: Bearer <key>")
    sms_sender: str = Field(default="", max_length=20, description="the brand name, if the "
                            "gateway takes one")
    zalo_url: str = Field(default="https://business.openapi.zalo.me/message/template",
                          description="Zalo OA's ZNS template message endpoint")
    zalo_access_token: str = Field(default="", description="the OA's access token; empty: "
                                   "no Zalo")
    zalo_template_id: str = Field(default="", max_length=64, description="the approved ZNS "
                                  "template, with parameters ma_ho_so, tieu_de, noi_dung")

    # Values published in this repository for the notification channels' stand-ins.
    NOTIFY_PUBLISHED: ClassVar[frozenset[str]] = frozenset({
        "local-sms-gateway-key", "local-zalo-oa-access-token", "local-smtp-password"})

    def notify_secrets(self) -> dict[str, str]:
        return {self.variable(n): getattr(self, n)
                for n in ("smtp_password", "sms_api_key", "zalo_access_token")
                if getattr(self, n)}

    def production_refusals(self) -> list[str]:
        refusals = super().production_refusals()
        if self.env != "production":
            return refusals
        published = self.published_values() | self.NOTIFY_PUBLISHED
        for variable, value in self.notify_secrets().items():
            if value in published:
                refusals.append(f"{variable} is a default published with the code; set a "
                                "secret of your own")
        for name in ("sms_url", "zalo_url"):
            url = getattr(self, name)
            if url and urlsplit(url).scheme != "https" and self._channel_set(name):
                refusals.append(f"{self.variable(name)} must be https in production")
        if self.smtp_password and not self.smtp_tls and self.smtp_starttls != "required":
            refusals.append(f"{self.variable('smtp_password')} is set: set "
                            f"{self.variable('smtp_starttls')}=required (or "
                            f"{self.variable('smtp_tls')}=true) so it never travels in clear")
        return refusals

    def _channel_set(self, url_setting: str) -> bool:
        return bool(self.sms_api_key if url_setting == "sms_url" else self.zalo_access_token)
