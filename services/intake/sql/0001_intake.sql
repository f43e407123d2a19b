-- Intake: the catalog, portals, dossiers as filed, supplements and the public timeline.
CREATE TABLE catalog_versions (
    version    text PRIMARY KEY,
    loaded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE units (
    code       text PRIMARY KEY,
    name       text NOT NULL,
    parent     text REFERENCES units (code),
    block      text NOT NULL,
    cutoff     time,
    calendar_overrides jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE procedures (
    code             text PRIMARY KEY,
    name             text NOT NULL,
    field            text NOT NULL DEFAULT '',
    processing_days  integer NOT NULL CHECK (processing_days >= 0),
    fee              bigint NOT NULL DEFAULT 0,
    postal_filing    boolean NOT NULL,
    postal_return    boolean NOT NULL,
    level            text NOT NULL
);

CREATE TABLE procedure_units (
    procedure_code text REFERENCES procedures (code),
    unit_code      text REFERENCES units (code),
    PRIMARY KEY (procedure_code, unit_code)
);

CREATE TABLE portals (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('portal', 'importer')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Keys are stored as SHA-256 digests only; several per portal allow rotation.
CREATE TABLE portal_keys (
    key_hash   text PRIMARY KEY,
    portal_id  text NOT NULL REFERENCES portals (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- Dossier codes: one counter per unit per local day, incremented in the filing's own
-- transaction, so a rolled-back filing leaves no gap and concurrent ones no duplicate.
CREATE TABLE code_counters (
    unit_code  text NOT NULL,
    day        date NOT NULL,
    last       integer NOT NULL,
    PRIMARY KEY (unit_code, day)
);

CREATE TABLE dossiers (
    code             text PRIMARY KEY,
    unit_code        text NOT NULL REFERENCES units (code),
    current_unit     text NOT NULL,
    procedure_code   text NOT NULL REFERENCES procedures (code),
    channel          text NOT NULL CHECK (channel IN ('counter', 'online', 'postal')),
    return_method    text NOT NULL CHECK (return_method IN ('counter', 'online', 'postal')),
    received_at      timestamptz NOT NULL,
    counted_from     timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    appointment_at   timestamptz,
    processing_days  integer NOT NULL,
    status           text NOT NULL,
    status_at        timestamptz NOT NULL,
    supplement_requested_at timestamptz,
    applicant        jsonb NOT NULL,        -- personal data: stays in this schema
    applicant_masked jsonb NOT NULL,
    pin_digest       text NOT NULL,
    portal_id        text NOT NULL REFERENCES portals (id),
    external_ref     text,
    idempotency_key  text,
    request_hash     text NOT NULL,
    rulebook         text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (portal_id, external_ref),
    UNIQUE (portal_id, idempotency_key)
);
CREATE INDEX dossiers_unit_received ON dossiers (unit_code, received_at);

CREATE TABLE supplements (
    id          bigserial PRIMARY KEY,
    dossier_code text NOT NULL REFERENCES dossiers (code),
    received_at timestamptz NOT NULL,
    note        text,
    documents   jsonb NOT NULL DEFAULT '[]',
    portal_id   text NOT NULL
);

CREATE TABLE timeline (
    event_id     uuid PRIMARY KEY,
    dossier_code text NOT NULL,
    at           timestamptz NOT NULL,
    event_type   text NOT NULL,
    source       text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_dossier ON timeline (dossier_code, at);
