-- Complaints (indicators 5.1–5.3, and 5.4's "complained about"): each complaint's facts,
-- folded from its events, which join the same event set as the dossiers' (keyed by the
-- complaint's code).
CREATE TABLE complaint_facts (
    complaint_code     text PRIMARY KEY,
    unit_code          text,
    category           text,
    dossier_code       text,
    received_at        timestamptz,
    refuse_by          timestamptz,
    request_info_by    timestamptz,
    answer_by_first    timestamptz,
    answer_by          timestamptz,
    info_requested_at  timestamptz,
    info_received_at   timestamptz,
    answered_at        timestamptz,
    publish_by         timestamptz,
    published_at       timestamptz,
    refused_at         timestamptz,
    reaction           text,
    reacted_at         timestamptz,
    repeated_at        timestamptz
);
CREATE INDEX complaint_facts_received ON complaint_facts (received_at);
CREATE INDEX complaint_facts_dossier ON complaint_facts (dossier_code, received_at)
    WHERE dossier_code IS NOT NULL;
