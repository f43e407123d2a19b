-- Per-day counts (domain/tallies.py): per unit, procedure and local day, what the dossiers
-- over by then contribute to every figure; a period reads its days here and judges only the
-- dossiers live in its last day (or at its as_of) from the facts. Kept in the transaction
-- that writes the facts. Rows already folded are counted by the service at its next start
-- (tallied = false until then).
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE facts
    ADD COLUMN live_from timestamptz,
    ADD COLUMN live_until timestamptz,
    ADD COLUMN tallied boolean NOT NULL DEFAULT false;
CREATE INDEX facts_untallied ON facts (dossier_code) WHERE NOT tallied;
-- The dossiers live at some time in [cut, as_of]: an open span, or one that meets it.
CREATE INDEX facts_live ON facts USING gist (unit_code, tstzrange(live_from, live_until, '[]'));
-- The ratings and desk counts of the last, incomplete day.
CREATE INDEX facts_received ON facts (received_at);
CREATE INDEX facts_returned ON facts (returned_at) WHERE returned_at IS NOT NULL;
CREATE INDEX facts_rated ON facts (rated_at) WHERE rated_at IS NOT NULL;
CREATE TABLE daily_counts (
    unit_code      text NOT NULL,
    procedure_code text NOT NULL,
    day            date NOT NULL,
    early                        bigint NOT NULL DEFAULT 0,
    on_time                      bigint NOT NULL DEFAULT 0,
    late                         bigint NOT NULL DEFAULT 0,
    overdue_open                 bigint NOT NULL DEFAULT 0,
    open_not_due                 bigint NOT NULL DEFAULT 0,
    population                   bigint NOT NULL DEFAULT 0,
    received                     bigint NOT NULL DEFAULT 0,
    received_counter             bigint NOT NULL DEFAULT 0,
    received_online              bigint NOT NULL DEFAULT 0,
    received_postal              bigint NOT NULL DEFAULT 0,
    resolved                     bigint NOT NULL DEFAULT 0,
    rejected                     bigint NOT NULL DEFAULT 0,
    stopped                      bigint NOT NULL DEFAULT 0,
    withdrawn                    bigint NOT NULL DEFAULT 0,
    returned                     bigint NOT NULL DEFAULT 0,
    returned_counter             bigint NOT NULL DEFAULT 0,
    returned_online              bigint NOT NULL DEFAULT 0,
    returned_postal              bigint NOT NULL DEFAULT 0,
    apologies_issued             bigint NOT NULL DEFAULT 0,
    multiple_supplement_requests bigint NOT NULL DEFAULT 0,
    on_time_766                  bigint NOT NULL DEFAULT 0,
    late_without_apology         bigint NOT NULL DEFAULT 0,
    late_with_timely_apology     bigint NOT NULL DEFAULT 0,
    late_with_late_apology       bigint NOT NULL DEFAULT 0,
    missed_reappointment         bigint NOT NULL DEFAULT 0,
    worked_sum                   bigint NOT NULL DEFAULT 0,
    worked_count                 bigint NOT NULL DEFAULT 0,
    very_satisfied               bigint NOT NULL DEFAULT 0,
    satisfied                    bigint NOT NULL DEFAULT 0,
    unsatisfied                  bigint NOT NULL DEFAULT 0,
    decree61_sum                 bigint NOT NULL DEFAULT 0,
    decree61_count               bigint NOT NULL DEFAULT 0,
    with_sipas                   bigint NOT NULL DEFAULT 0,
    high_access                  bigint NOT NULL DEFAULT 0,
    high_procedure               bigint NOT NULL DEFAULT 0,
    high_civil_servant           bigint NOT NULL DEFAULT 0,
    high_result                  bigint NOT NULL DEFAULT 0,
    high_feedback_handling       bigint NOT NULL DEFAULT 0,
    desk_received                bigint NOT NULL DEFAULT 0,
    desk_handed_over             bigint NOT NULL DEFAULT 0,
    desk_returned                bigint NOT NULL DEFAULT 0,
    desk_returned_at_counter     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_code, day, procedure_code)
);
-- What the figures no longer read from the facts (the per-day counts hold it): every index
-- costs each refold's write.
DROP INDEX facts_procedure;
DROP INDEX facts_unit_returned;
DROP INDEX facts_receiving_unit;
