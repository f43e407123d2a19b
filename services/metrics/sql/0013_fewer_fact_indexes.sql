-- Indexes no read uses since the figures and the national index read the per-day counts and
-- the live span (facts_live): each was one more entry to write on every refold. The reads
-- left: by dossier (the key), live (facts_live), received / returned / rated in the last day
-- (facts_received, facts_returned, facts_rated), a unit's receipts in a period for the
-- at-risk list and II.06a (facts_unit_received), stuck now (facts_stuck), not yet tallied
-- (facts_untallied).
DROP INDEX IF EXISTS facts_unit_open;
DROP INDEX IF EXISTS facts_unit_open_received;
DROP INDEX IF EXISTS facts_procedure;
DROP INDEX IF EXISTS facts_receiving_unit;
DROP INDEX IF EXISTS facts_unit_returned;
DROP INDEX IF EXISTS facts_rating;
