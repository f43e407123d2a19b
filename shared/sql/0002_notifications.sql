-- Notifications to applicants (docs/rules/notifications.md): written in the transaction of
-- the step they announce (an outbox of their own), sent by the leader's NotificationSender.
-- `address` is personal data: it stays in this schema (the history shows it masked).
-- (Not "notifications": postal keeps a log of its own under that name.)
CREATE TABLE applicant_notifications (
    id              text        PRIMARY KEY,   -- ntf_<32 hex>: Message-ID, client_ref, tracking_id
    subject_code    text        NOT NULL,      -- the dossier's code (or a complaint's)
    kind            text        NOT NULL,      -- the step: dossier.received, ...
    dedup_key       text        NOT NULL UNIQUE, -- <event id>:<kind>: one per step, however often applied
    channel         text        CHECK (channel IN ('email', 'sms', 'zalo')),
    address         text,
    subject         text        NOT NULL,
    text            text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    retry_from      timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applicant_notifications_due ON applicant_notifications (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX applicant_notifications_of_subject ON applicant_notifications (subject_code, created_at);

-- How the applicant of a dossier (or a complaint) wants to be told; none: opted out.
CREATE TABLE notification_preferences (
    subject_code text        PRIMARY KEY,
    preference   text        NOT NULL CHECK (preference IN ('auto', 'email', 'sms', 'zalo', 'none')),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
