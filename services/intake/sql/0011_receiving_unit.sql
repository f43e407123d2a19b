-- Filing regardless of administrative boundaries: the desk that received a dossier, where it
-- is not the competent unit's own (NULL: the competent unit received it).
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS receiving_unit text;
CREATE INDEX IF NOT EXISTS dossiers_receiving_unit ON dossiers (receiving_unit, filed_at)
    WHERE receiving_unit IS NOT NULL;
