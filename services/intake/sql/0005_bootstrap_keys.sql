-- Keys registered from INTAKE_PORTAL_KEYS at start-up are marked, so that a start whose
-- setting no longer lists one revokes it (emptying the setting removes the demo keys).
ALTER TABLE portal_keys ADD COLUMN bootstrap boolean NOT NULL DEFAULT false;
-- The demo keys published with the code were only ever registered that way.
UPDATE portal_keys SET bootstrap = true
WHERE key_hash IN (encode(sha256(convert_to('dvc-demo.local-demo-portal-key', 'UTF8')), 'hex'),
                   encode(sha256(convert_to('legacy-import.local-demo-importer-key', 'UTF8')), 'hex'),
                   encode(sha256(convert_to('desk-demo.local-demo-desk-key', 'UTF8')), 'hex'));
