-- Dead letters can be re-driven by an operator after a fix (shared/deadletters.py): what the
-- message was, and what became of each re-drive. The inbox keeps a re-driven event from
-- being applied twice.
ALTER TABLE dead_letters
    ADD COLUMN event_id uuid,
    ADD COLUMN event_type text,
    ADD COLUMN redrives integer NOT NULL DEFAULT 0,
    ADD COLUMN redriven_at timestamptz,
    ADD COLUMN redrive_outcome text
        CHECK (redrive_outcome IN ('applied', 'already_applied', 'still_failing', 'poison',
                                   'not_for_this_consumer', 'gone')),
    ADD COLUMN redrive_detail text;
CREATE INDEX dead_letters_by_topic ON dead_letters (topic, id);
