-- The population of a period is three index-friendly parts: received in the period;
-- received before it and still open; received before it and ended inside or after it.
CREATE INDEX facts_unit_open_received ON facts (unit_code, received_at) WHERE end_at IS NULL;
