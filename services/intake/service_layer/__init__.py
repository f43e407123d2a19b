"""Intake use cases: each one command and its handler."""
