-- The applicant's name as the events carry it (masked), printed on the control slip.
ALTER TABLE dossiers ADD COLUMN applicant_name text NOT NULL DEFAULT '';
