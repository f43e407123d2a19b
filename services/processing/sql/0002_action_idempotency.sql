-- An action sent again with the same Idempotency-Key (a retry after a lost answer) finds
-- the hop it made the first time and is not applied twice.
ALTER TABLE hops ADD COLUMN idempotency_key text;
ALTER TABLE hops ADD COLUMN request_hash text;
CREATE UNIQUE INDEX hops_idempotency ON hops (dossier_code, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
