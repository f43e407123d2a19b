-- The documents listed and the note given with a filing are kept with the dossier (they
-- were accepted and then dropped). Stays in intake's schema, like the applicant.
ALTER TABLE dossiers ADD COLUMN documents jsonb NOT NULL DEFAULT '[]';
ALTER TABLE dossiers ADD COLUMN note text;
