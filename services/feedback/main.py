"""Runs the feedback service under uvicorn: `python -m services.feedback.main`."""

from __future__ import annotations

from services.feedback.settings import Settings
from shared.serve import run_service


def main() -> None:
    run_service("services.feedback.app:create_app", Settings())


if __name__ == "__main__":
    main()
