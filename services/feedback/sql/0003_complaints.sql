-- Complaints (phản ánh, kiến nghị): the workflow's state and deadlines, the complainant's
-- contact (personal data: kept here only, never in events), and a counter per day for codes.
CREATE TABLE complaints (
    code               text PRIMARY KEY,          -- PAKN-YYMMDD-NNNN
    unit_code          text NOT NULL,
    category           text NOT NULL CHECK (category IN ('procedure', 'conduct', 'other')),
    via                text NOT NULL CHECK (via IN ('portal', 'desk', 'hotline')),
    submitted_by       text NOT NULL,             -- the portal id, or the officer's subject
    dossier_code       text,
    repeat_of          text REFERENCES complaints (code),
    subject            text NOT NULL,             -- masked
    body               text NOT NULL,             -- masked
    complainant        jsonb,                     -- {full_name, phone, email}: personal data
    state              text NOT NULL CHECK (state IN ('received', 'awaiting_info', 'answered',
                                                      'published', 'refused')),
    received_at        timestamptz NOT NULL,
    refuse_by          timestamptz NOT NULL,
    request_info_by    timestamptz NOT NULL,
    answer_by          timestamptz NOT NULL,      -- moved by the pause for information
    info_requested_at  timestamptz,
    info_request       text,                      -- what was asked (masked)
    info_received_at   timestamptz,
    info               text,                      -- what the citizen gave (masked)
    answered_at        timestamptz,
    answer_text        text,                      -- masked
    publish_by         timestamptz,
    published_at       timestamptz,
    refused_at         timestamptz,
    refusal            text,                      -- masked
    reaction           text CHECK (reaction IN ('accepted', 'disliked')),
    reacted_at         timestamptz,
    repeated_at        timestamptz,
    last_step_at       timestamptz,
    overdue_flagged    text[] NOT NULL DEFAULT '{}',  -- the steps already announced overdue
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX complaints_by_unit ON complaints (unit_code, received_at DESC);
CREATE INDEX complaints_by_dossier ON complaints (dossier_code, received_at)
    WHERE dossier_code IS NOT NULL;
CREATE INDEX complaints_published ON complaints (published_at DESC) WHERE published_at IS NOT NULL;
-- The watchdog's scan: open complaints not yet flagged, by the step they wait for.
CREATE INDEX complaints_watch ON complaints (state, answer_by, publish_by)
    WHERE state IN ('received', 'answered');

CREATE TABLE complaint_counters (
    day  date PRIMARY KEY,
    n    int NOT NULL
);
