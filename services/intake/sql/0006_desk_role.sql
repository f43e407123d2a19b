-- A desk client (the one-stop-shop desk's software) has keys of its own: counter filings
-- come from a desk, online and postal ones from a portal.
ALTER TABLE portals DROP CONSTRAINT portals_role_check;
ALTER TABLE portals ADD CONSTRAINT portals_role_check CHECK (role IN ('portal', 'importer', 'desk'));
