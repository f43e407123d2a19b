-- Metrics: every dossier's events as a set (the source of the fold), and the folded facts.
CREATE TABLE dossier_events (
    event_id      uuid PRIMARY KEY,
    dossier_code  text NOT NULL,
    type          text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    data          jsonb NOT NULL
);
CREATE INDEX dossier_events_dossier ON dossier_events (dossier_code);

CREATE TABLE facts (
    dossier_code        text PRIMARY KEY,
    unit_code           text,
    current_unit        text,
    procedure_code      text,
    channel             text,
    return_method       text,
    received_at         timestamptz,
    counted_from        timestamptz,
    due_at              timestamptz,
    effective_due_at    timestamptz,
    processing_days     integer,
    supplement_count    integer NOT NULL DEFAULT 0,
    paused_days         integer NOT NULL DEFAULT 0,
    pending_pause_since timestamptz,
    apology_count       integer NOT NULL DEFAULT 0,
    apology_issued_at   timestamptz,
    apology_timely      boolean,
    new_due_at          timestamptz,
    resolved_at         timestamptz,
    rejected_at         timestamptz,
    stopped_at          timestamptz,
    withdrawn_at        timestamptz,
    returned_at         timestamptz,
    returned_method     text,
    end_at              timestamptz,
    end_kind            text,
    closed_timeliness   text,
    processing_working_days integer,
    rating              text,
    rating_unit         text,
    rated_at            timestamptz,
    decree61_total      integer,
    sipas               jsonb
);
CREATE INDEX facts_unit_received ON facts (unit_code, received_at);
CREATE INDEX facts_unit_open ON facts (unit_code, end_at);
CREATE INDEX facts_rating ON facts (rating_unit, rated_at);
CREATE INDEX facts_procedure ON facts (procedure_code, received_at);
