"""Prometheus instruments shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PENDING = Gauge("motcua_outbox_pending", "Outbox rows not yet published", ["schema"])
OUTBOX_PUBLISHED = Counter("motcua_outbox_published_total", "Outbox rows published", ["schema"])
OUTBOX_OLDEST_AGE = Gauge("motcua_outbox_oldest_pending_seconds",
                          "Age of the oldest unpublished outbox row", ["schema"])
CONSUMED = Counter("motcua_events_consumed_total", "Events whose effect was applied",
                   ["consumer", "topic"])
DUPLICATES = Counter("motcua_events_duplicate_total", "Redelivered events skipped by the inbox",
                     ["consumer", "topic"])
DEAD_LETTERS = Counter("motcua_dead_letters_total", "Messages sent to a dead-letter topic",
                       ["consumer", "topic", "reason"])
CONSUMER_LAG = Gauge("motcua_consumer_lag", "Messages behind the partition's high watermark",
                     ["consumer", "topic", "partition"])
HTTP_REQUESTS = Counter("motcua_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram("motcua_http_request_seconds", "HTTP request latency", ["method", "route"],
                         buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
DEPENDENCY_UP = Gauge("motcua_dependency_up", "1 when the dependency answered the last check",
                      ["dependency"])
WATCHDOG_EVENTS = Counter("motcua_watchdog_events_total", "Deadline warnings emitted", ["kind"])
PAST_APOLOGY_DEADLINE = Gauge(
    "motcua_dossiers_past_apology_deadline_without_apology",
    "Unresolved dossiers whose apology deadline has passed with no apology", ["unit"])
WEBHOOK_DELIVERIES = Counter(
    "motcua_webhook_deliveries_total",
    "Tries of portals' webhooks, by outcome (delivered, retrying, failed)", ["outcome"])
STUCK_DOSSIERS = Gauge(
    "motcua_stuck_dossiers",
    "Open dossiers with no step for the rulebook's working days (hồ sơ treo)", ["unit"])
PARTITION_ASSIGNED = Gauge("motcua_consumer_partition_assigned",
                           "1 for each partition this consumer currently holds",
                           ["consumer", "topic", "partition"])

# The national portal connector (docs/rules/national_portal.md).
SYNC_PENDING = Gauge("motcua_national_portal_pending",
                     "Dossiers with a change the national portal does not have yet")
SYNC_OLDEST_PENDING = Gauge("motcua_national_portal_oldest_pending_seconds",
                            "Age of the oldest change not synced to the national portal")
SYNC_REFUSED = Gauge("motcua_national_portal_refused",
                     "Dossiers the national portal refused, waiting for a fix and a resend")
SYNC_BREAKER_OPEN = Gauge("motcua_national_portal_breaker_open",
                          "1 while sending is paused after failures in a row")
SYNC_SENT = Counter("motcua_national_portal_documents_total",
                    "Documents sent to the national portal, by outcome",
                    ["service", "outcome"])

# Applicant notifications (docs/rules/notifications.md).
NOTIFICATIONS = Counter(
    "motcua_notifications_total",
    "Tries of applicant notifications, by channel and outcome (sent, retrying, failed, "
    "skipped)", ["channel", "outcome"])
