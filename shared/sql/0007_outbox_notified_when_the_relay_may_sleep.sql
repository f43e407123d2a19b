-- The relay is woken only when it may be asleep (docs/decisions/0032). Every NOTIFY wakes
-- every backend that listens in the database, whatever its channel, and each one runs a
-- transaction to read the queue: at one NOTIFY per filing that was most of PostgreSQL's
-- transactions. A commit therefore notifies only when no other committed row waits unsent.
-- If one does, the relay has work it has not finished: it fetches again after marking a
-- batch sent, and sleeps only after a fetch that found nothing. Its mark takes the same
-- advisory lock (shared/outbox.py), so a commit that saw a row still unsent is visible to
-- the relay's next fetch. A transaction's first row decides; its later rows see that one.
CREATE OR REPLACE FUNCTION outbox_number_at_commit() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('outbox:' || TG_TABLE_SCHEMA));
    -- Committed rows all have a number; this one has none yet.
    IF NOT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL AND seq IS NOT NULL) THEN
        PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
    END IF;
    -- The id's sequence: every number given now is above the ids numbered before.
    UPDATE outbox SET seq = nextval('outbox_id_seq') WHERE id = NEW.id;
    RETURN NULL;
END $$;
