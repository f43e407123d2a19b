-- Feedback: what it knows of each dossier (from events), one rating per dossier, and the
-- failed PIN attempts that rate-limit guessing.
CREATE TABLE dossiers (
    code          text PRIMARY KEY,
    unit_code     text NOT NULL,
    finished      text,              -- resolved / rejected / stopped / returned
    finished_at   timestamptz
);

CREATE TABLE ratings (
    dossier_code  text PRIMARY KEY REFERENCES dossiers (code),
    unit_code     text NOT NULL,
    rating        text NOT NULL CHECK (rating IN ('very_satisfied', 'satisfied', 'unsatisfied')),
    criteria      jsonb,
    comment       text,              -- masked before it is stored
    at            timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pin_failures (
    id            bigserial PRIMARY KEY,
    dossier_code  text NOT NULL,
    client        text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pin_failures_recent ON pin_failures (dossier_code, at);
