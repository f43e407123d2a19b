-- What the national index (Decision 766) counts at payment and resolution.
ALTER TABLE dossiers
    ADD COLUMN payment_via text,
    ADD COLUMN electronic_result_ref text,
    ADD COLUMN result_digitised boolean NOT NULL DEFAULT false,
    ADD COLUMN shared_to_citizen boolean NOT NULL DEFAULT false;
