-- Outbox rows are numbered at commit, not when written (docs/decisions/0029). A deferred
-- trigger takes the per-schema advisory lock as the transaction commits and gives each of
-- its rows the next number (seq), in the order they were written; the lock is held until
-- the commit is done, so seq order is commit order, as id order was. What changes is how
-- long the lock is held: from the commit's start to its end inside PostgreSQL, where it was
-- held from the outbox write, through a turn of the writer's event loop, to COMMIT.
ALTER TABLE outbox ADD COLUMN seq bigint;
-- Rows not yet sent were numbered in commit order by their id.
UPDATE outbox SET seq = id WHERE sent_at IS NULL;
DROP INDEX outbox_unsent;
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;

CREATE FUNCTION outbox_number_at_commit() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('outbox:' || TG_TABLE_SCHEMA));
    -- The id's sequence: every number given now is above the ids numbered before.
    UPDATE outbox SET seq = nextval('outbox_id_seq') WHERE id = NEW.id;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER outbox_numbered_at_commit AFTER INSERT ON outbox
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION outbox_number_at_commit();
