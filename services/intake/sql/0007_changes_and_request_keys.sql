-- Every change to a dossier records the id of the transaction that made it and the next
-- number of one sequence: a portal that missed something pages through its dossiers in
-- (transaction id, number) order (GET /v1/dossiers?changed_since=...), and a page holds only
-- changes of finished transactions, older than any still in flight. A transaction that
-- commits later has a larger id than every change already paged, so none is ever skipped.
CREATE SEQUENCE dossier_changes;
ALTER TABLE dossiers ADD COLUMN change_seq bigint, ADD COLUMN change_xid xid8;
UPDATE dossiers SET change_seq = nextval('dossier_changes'), change_xid = pg_current_xact_id();
ALTER TABLE dossiers ALTER COLUMN change_seq SET NOT NULL, ALTER COLUMN change_xid SET NOT NULL;

CREATE FUNCTION dossier_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.change_seq := nextval('intake.dossier_changes');
  NEW.change_xid := pg_current_xact_id();
  RETURN NEW;
END $$;
CREATE TRIGGER dossier_changed BEFORE INSERT OR UPDATE ON dossiers
  FOR EACH ROW EXECUTE FUNCTION dossier_changed();
CREATE INDEX dossiers_portal_changes ON dossiers (portal_id, change_xid, change_seq);
CREATE INDEX dossiers_changes ON dossiers (change_xid, change_seq);

-- Idempotency-Key of the requests that change a filed dossier (supplements, withdrawals):
-- a repeated key with the same request is answered without acting twice.
CREATE TABLE request_keys (
    portal_id        text NOT NULL REFERENCES portals (id),
    idempotency_key  text NOT NULL,
    action           text NOT NULL,
    dossier_code     text NOT NULL REFERENCES dossiers (code),
    request_hash     text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, idempotency_key)
);
