-- What the national index (Decision 766) counts beyond timeliness, folded from the events.
ALTER TABLE facts
    ADD COLUMN online_mode text,
    ADD COLUMN population_data boolean NOT NULL DEFAULT false,
    ADD COLUMN components_digitised boolean NOT NULL DEFAULT false,
    ADD COLUMN reused_digitised boolean NOT NULL DEFAULT false,
    ADD COLUMN paid_online boolean,
    ADD COLUMN paid_at timestamptz,
    ADD COLUMN electronic_result boolean NOT NULL DEFAULT false,
    ADD COLUMN result_digitised boolean NOT NULL DEFAULT false,
    ADD COLUMN shared_to_citizen boolean NOT NULL DEFAULT false;
