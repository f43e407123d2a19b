"""Metrics use cases beyond the figures: the national index (Decision 766)."""
