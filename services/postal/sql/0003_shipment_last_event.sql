-- The time of a shipment's latest courier event: a later report may not go back before it.
ALTER TABLE shipments ADD COLUMN last_event_at timestamptz;
UPDATE shipments SET last_event_at = greatest(created_at, picked_up_at, delivered_at, returned_to_desk_at);
