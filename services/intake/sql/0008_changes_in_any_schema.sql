-- 0007's trigger named its sequence as intake.dossier_changes, so intake in a schema of
-- another name (INTAKE_DB_SCHEMA) could file nothing. The sequence is the one beside the
-- table the trigger fires on.
CREATE OR REPLACE FUNCTION dossier_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.change_seq := nextval((quote_ident(TG_TABLE_SCHEMA) || '.dossier_changes')::regclass);
  NEW.change_xid := pg_current_xact_id();
  RETURN NEW;
END $$;
