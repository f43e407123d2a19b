-- Processing: the workflow state of each dossier, its deadlines and the action log.
CREATE TABLE dossiers (
    code                    text PRIMARY KEY,
    unit_code               text NOT NULL,
    origin_unit             text NOT NULL,
    procedure_code          text NOT NULL,
    channel                 text NOT NULL,
    return_method           text NOT NULL,
    state                   text NOT NULL,
    received_at             timestamptz NOT NULL,
    counted_from            timestamptz NOT NULL,
    due_at                  timestamptz NOT NULL,
    original_due_at         timestamptz NOT NULL,
    apology_deadline        timestamptz NOT NULL,
    due_soon_at             timestamptz NOT NULL,
    processing_days         integer NOT NULL,
    rulebook                text NOT NULL,
    assignee                text,
    supplement_requested_at timestamptz,
    supplement_count        integer NOT NULL DEFAULT 0,
    paused_days             integer NOT NULL DEFAULT 0,
    paused_seconds          double precision NOT NULL DEFAULT 0,
    apology_count           integer NOT NULL DEFAULT 0,
    apology_issued_at       timestamptz,
    apology_timely          boolean,
    appointment_at          timestamptz,
    payment_amount          numeric,
    paid_at                 timestamptz,
    resolved_at             timestamptz,
    returned_at             timestamptz,
    ended_at                timestamptz,
    last_action_at          timestamptz,
    due_soon_sent_at        timestamptz,
    overdue_sent_at         timestamptz,
    version                 integer NOT NULL DEFAULT 0
);
CREATE INDEX dossiers_worklist ON dossiers (unit_code, due_at);
-- What the watchdog scans: only dossiers whose clock runs and whose warning is unsent.
CREATE INDEX dossiers_due_soon_watch ON dossiers (due_soon_at)
    WHERE due_soon_sent_at IS NULL
      AND state IN ('awaiting_receipt', 'received', 'processing', 'awaiting_payment');
CREATE INDEX dossiers_overdue_watch ON dossiers (due_at)
    WHERE overdue_sent_at IS NULL
      AND state IN ('awaiting_receipt', 'received', 'processing', 'awaiting_payment');

-- Every hop of a dossier (receipt, officer actions, supplements) for the Form 05 slip.
CREATE TABLE hops (
    id           bigserial PRIMARY KEY,
    dossier_code text NOT NULL,
    step         text NOT NULL,
    unit_code    text NOT NULL,
    actor        text NOT NULL,
    at           timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX hops_dossier ON hops (dossier_code, at);
