"""Processing use cases: the officers' actions, other services' events and the watchdog."""
