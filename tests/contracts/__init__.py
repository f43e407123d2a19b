"""Contracts of the repository ports: one abstract test case per port, run against the
PostgreSQL implementation (tests/integration/test_repository_contracts.py) and against the
in-memory fake the service-layer tests use (tests/unit/test_repository_contracts.py), so that
the fakes behave as the real adapters do."""
