"""Feedback use cases: each one command, its handler, and the transaction it owns."""
