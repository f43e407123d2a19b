-- Stuck dossiers (hồ sơ treo): flagged by the watchdog when an open dossier has had no step
-- for the rulebook's working days; the next check's time keeps it from looking every pass.
ALTER TABLE dossiers ADD COLUMN stuck_flagged_at timestamptz;
ALTER TABLE dossiers ADD COLUMN stuck_check_at timestamptz;
CREATE INDEX dossiers_stuck ON dossiers (unit_code, stuck_flagged_at)
    WHERE stuck_flagged_at IS NOT NULL;
-- The watchdog's stuck pass: the open dossiers not flagged, next check first.
CREATE INDEX dossiers_stuck_check ON dossiers (stuck_check_at NULLS FIRST, code)
    WHERE stuck_flagged_at IS NULL
      AND state IN ('awaiting_receipt', 'received', 'processing', 'awaiting_payment');
