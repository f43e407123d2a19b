-- The national portal connector's key: it files nothing and reads the applicants of the
-- dossiers it sends to the national portal (docs/decisions/0011).
ALTER TABLE portals DROP CONSTRAINT portals_role_check;
ALTER TABLE portals ADD CONSTRAINT portals_role_check
    CHECK (role IN ('portal', 'importer', 'desk', 'connector'));
