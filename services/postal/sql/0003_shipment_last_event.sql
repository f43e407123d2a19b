-- The time of a shipment's latest courier event: a later report may not go back before it.
ALTER TABLE shipments ADD COLUMN last_event_at timestamptz;
UPDATE shipments s SET last_event_at = greatest(
    s.created_at, s.picked_up_at, s.delivered_at, s.returned_to_desk_at,
    (SELECT max(e.at) FROM courier_events e WHERE e.shipment_id = s.id));
