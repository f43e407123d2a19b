-- Transactional outbox: written in the same transaction as the state change that caused
-- the event. Rows are numbered under a per-schema advisory lock taken at write time, so
-- id order is commit order (see shared/outbox.py).
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    topic       text        NOT NULL,
    key         text        NOT NULL,
    event_type  text        NOT NULL,
    headers     jsonb       NOT NULL,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Inbox: one row per (consumer, event) whose effect was applied, written in the same
-- transaction as the effect. A redelivered event finds its row and changes nothing.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- What went to a dead-letter topic, for operators (the DLQ topic is the source of truth).
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    consumer     text        NOT NULL,
    topic        text        NOT NULL,
    kafka_partition integer  NOT NULL,
    kafka_offset bigint      NOT NULL,
    reason       text        NOT NULL,
    detail       text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
