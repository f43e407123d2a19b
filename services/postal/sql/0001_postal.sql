-- Postal: shipments (inbound dossier pickup, outbound result delivery), courier events,
-- the signatures already seen (replay protection) and notifications to applicants.
CREATE TABLE shipments (
    id              text PRIMARY KEY,
    dossier_code    text NOT NULL,
    direction       text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    unit_code       text NOT NULL,
    status          text NOT NULL,
    created_at      timestamptz NOT NULL,
    picked_up_at    timestamptz,
    delivered_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    returned_to_desk_at timestamptz,
    version         integer NOT NULL DEFAULT 0,
    UNIQUE (dossier_code, direction)
);

CREATE TABLE courier_events (
    courier      text NOT NULL,
    event_id     text NOT NULL,
    shipment_id  text NOT NULL REFERENCES shipments (id),
    kind         text NOT NULL,
    at           timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (courier, event_id)
);

CREATE TABLE courier_signatures (
    courier     text NOT NULL,
    signature   text NOT NULL,
    ts          bigint NOT NULL,
    PRIMARY KEY (courier, signature)
);

CREATE TABLE notifications (
    id            bigserial PRIMARY KEY,
    dossier_code  text NOT NULL,
    kind          text NOT NULL,
    message       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
