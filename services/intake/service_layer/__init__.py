"""Intake use cases: filing, supplements, withdrawals, the portals' reads, and the status fed
by the other services' events."""
