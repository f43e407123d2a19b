-- The relay's wake-up is sent by the commit-time trigger that numbers the rows (0005), not
-- by the statement that writes them: an outbox write is then a plain INSERT, which a
-- service can make a part of a larger statement (intake writes a filing, its timeline entry
-- and its events in one). A notification is delivered at commit, once per transaction
-- however many rows signal it; the channel is shared/outbox.py's notify_channel.
CREATE OR REPLACE FUNCTION outbox_number_at_commit() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('outbox:' || TG_TABLE_SCHEMA));
    -- The id's sequence: every number given now is above the ids numbered before.
    UPDATE outbox SET seq = nextval('outbox_id_seq') WHERE id = NEW.id;
    PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END $$;
