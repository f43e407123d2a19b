-- The national portal connector: each dossier as the connector knows it (no personal data:
-- the applicant is looked up when sending), its version, and how far its sync has got.
CREATE TABLE dossiers (
    code            text PRIMARY KEY,
    unit_code       text NOT NULL DEFAULT '',
    received_at     timestamptz,
    view            jsonb NOT NULL,
    version         integer NOT NULL,
    steps           integer NOT NULL DEFAULT 0,
    synced_version  integer NOT NULL DEFAULT 0,
    synced_steps    integer NOT NULL DEFAULT 0,
    pending_since   timestamptz,            -- the first change not synced yet
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    refused_version integer,
    refused_code    text,
    refused_text    text,                   -- as the portal answered, masked
    refused_at      timestamptz,
    first_synced_at timestamptz,
    last_synced_at  timestamptz
);
-- What the sender takes: known dossiers with a change not synced and not refused as it is.
CREATE INDEX dossiers_pending ON dossiers (next_attempt_at)
    WHERE unit_code <> '' AND (version > synced_version OR steps > synced_steps)
      AND refused_version IS DISTINCT FROM version;
CREATE INDEX dossiers_unit_received ON dossiers (unit_code, received_at);
CREATE INDEX dossiers_refused ON dossiers (unit_code) WHERE refused_version IS NOT NULL;
