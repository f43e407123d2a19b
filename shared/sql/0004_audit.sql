-- The audit trail (shared/audit.py, docs/security.md "Audit trail"): who did or read what,
-- about which dossier, when, from where and with what outcome. Append-only: each record's
-- hash covers the previous record's hash and its own fields, so an edited, deleted or
-- reordered record breaks the chain (`python -m shared.audit verify`). `seq` is numbered by
-- the writer under a per-schema advisory lock (no sequence: a rolled-back insert would leave a
-- gap that looks like a deleted record). Codes, ids and subjects only: no personal data.
CREATE TABLE audit_log (
    seq        bigint      PRIMARY KEY CHECK (seq > 0),
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,   -- a token's subject, a portal's id, the OS user of a command
    actor_role text        NOT NULL,   -- officer, leader, importer, operator, portal, desk, connector, cli
    action     text        NOT NULL,   -- read:dossier, change:processing.resolve, key:add, ...
    subject    text,                   -- the dossier's code, a complaint's, a unit's, a portal's id
    source     text        NOT NULL,   -- the client address as uvicorn gives it (trusted proxies honoured)
    outcome    text        NOT NULL,   -- ok, refused:<status>, failed:<status>
    detail     text,                   -- written by the code, never from a client's input
    prev_hash  text        NOT NULL,
    hash       text        NOT NULL UNIQUE
);
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- The services' database role owns the table, so UPDATE and DELETE cannot be revoked from it;
-- these triggers refuse them (and TRUNCATE) so that no code path changes a record by mistake.
-- Someone who disables them on purpose is caught by the chain.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
