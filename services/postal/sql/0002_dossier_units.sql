-- Which unit a dossier is at (from intake's and processing's events), for outbound
-- shipments and for officers' access to shipments.
CREATE TABLE dossier_units (
    code       text PRIMARY KEY,
    unit_code  text NOT NULL
);
