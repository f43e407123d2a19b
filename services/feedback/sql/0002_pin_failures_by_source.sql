-- Wrong PINs are also limited per source address (a stranger must not lock many citizens
-- out of rating), so they are looked up by client too.
CREATE INDEX pin_failures_by_client ON pin_failures (client, at);
