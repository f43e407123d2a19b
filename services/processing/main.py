"""Runs the processing service under uvicorn: `python -m services.processing.main`."""

from __future__ import annotations

from services.processing.settings import Settings
from shared.serve import run_service


def main() -> None:
    run_service("services.processing.app:create_app", Settings())


if __name__ == "__main__":
    main()
