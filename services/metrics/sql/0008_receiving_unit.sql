-- Filing regardless of administrative boundaries: the desk that received each dossier (the
-- competent unit's own unless the filing named another). The desk report counts by it.
ALTER TABLE facts ADD COLUMN receiving_unit text;
UPDATE facts SET receiving_unit = unit_code WHERE receiving_unit IS NULL;
CREATE INDEX facts_receiving_unit ON facts (receiving_unit, received_at);
