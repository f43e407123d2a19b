-- Stuck dossiers (hồ sơ treo): since when, until the next step (the latest of
-- dossier.stuck / dossier.unstuck).
ALTER TABLE facts ADD COLUMN stuck_since timestamptz;
CREATE INDEX facts_stuck ON facts (unit_code) WHERE stuck_since IS NOT NULL AND end_at IS NULL;
