"""Postal use cases: couriers' reports, shipment look-ups, and shipments opened by events."""
