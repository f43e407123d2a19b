-- Portals' webhooks (Standard Webhooks): subscriptions, and one delivery per matching
-- timeline entry, written in the entry's own transaction (an outbox of its own).
CREATE TABLE webhook_subscriptions (
    id          uuid PRIMARY KEY,
    portal_id   text NOT NULL REFERENCES portals (id),
    url         text NOT NULL,
    events      text[] NOT NULL,  -- the event types wanted; '{*}' for every one
    secret      text NOT NULL,    -- whsec_<base64>: needed to sign, so kept as given out
    created_at  timestamptz NOT NULL,
    removed_at  timestamptz
);
CREATE UNIQUE INDEX webhook_subscriptions_active ON webhook_subscriptions (portal_id, url)
    WHERE removed_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,  -- msg_<uuid>: the webhook-id, the same on every try
    subscription_id  uuid NOT NULL REFERENCES webhook_subscriptions (id),
    portal_id        text NOT NULL,
    dossier_code     text NOT NULL,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    retry_from       timestamptz NOT NULL,  -- the day of retries counts from here (a replay resets it)
    last_attempt_at  timestamptz,
    last_status      int,
    last_error       text,
    delivered_at     timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_portal ON webhook_deliveries (portal_id, created_at DESC);
