"""Runs the intake service under uvicorn: `python -m services.intake.main`."""

from __future__ import annotations

from services.intake.settings import Settings
from shared.serve import run_service


def main() -> None:
    run_service("services.intake.app:create_app", Settings())


if __name__ == "__main__":
    main()
