-- When the national portal first accepted each dossier (the index's 1.4).
ALTER TABLE facts ADD COLUMN synced_at timestamptz;
