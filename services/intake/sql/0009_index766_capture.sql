-- What the national index (Decision 766) counts at filing; both optional.
ALTER TABLE dossiers
    ADD COLUMN online_mode text CHECK (online_mode IN ('whole', 'partial')),
    ADD COLUMN population_data text CHECK (population_data IN ('vneid', 'lookup'));
