"""Notifications to applicants, written once (docs/rules/notifications.md): who is told and
how (``contact``), what they are told (``messages``), the channels (``channels``), the
outbox table and its queries (``store``) and the sender (``sender``). Intake tells of a
dossier's steps; the feedback service can tell of an answered complaint with the same."""

from __future__ import annotations

from shared.notifications.channels import (
    Channel,
    SendFailed,
    SmsGatewayChannel,
    SmtpChannel,
    ZaloZnsChannel,
)
from shared.notifications.contact import (
    CHANNELS,
    PREFERENCES,
    ChannelName,
    Contact,
    Preference,
    choose_channel,
    international_phone,
    mask_address,
)
from shared.notifications.messages import KINDS, Message, compose
from shared.notifications.sender import NotificationSender
from shared.notifications.store import enqueue, history, prefer, preference_of

__all__ = [
    "CHANNELS", "KINDS", "PREFERENCES", "Channel", "ChannelName", "Contact", "Message",
    "NotificationSender", "Preference", "SendFailed", "SmsGatewayChannel", "SmtpChannel",
    "ZaloZnsChannel", "choose_channel", "compose", "enqueue", "history",
    "international_phone", "mask_address", "prefer", "preference_of",
]
