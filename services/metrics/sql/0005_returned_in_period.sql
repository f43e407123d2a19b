-- A result returned in a period counts for it even when its dossier was resolved before
-- (and so is not in the period's population): the figures read those by returned_at.
CREATE INDEX facts_unit_returned ON facts (unit_code, returned_at) WHERE returned_at IS NOT NULL;
