-- A dossier filed by post exists from the filing, but is received only at the courier's
-- handover at the desk: until then it has no receipt time and no due date.
ALTER TABLE dossiers ALTER COLUMN received_at DROP NOT NULL;
ALTER TABLE dossiers ALTER COLUMN counted_from DROP NOT NULL;
ALTER TABLE dossiers ALTER COLUMN due_at DROP NOT NULL;
ALTER TABLE dossiers ADD COLUMN filed_at timestamptz;
UPDATE dossiers SET filed_at = received_at WHERE filed_at IS NULL;
ALTER TABLE dossiers ALTER COLUMN filed_at SET NOT NULL;
