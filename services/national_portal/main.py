"""Runs the national portal connector under uvicorn: `python -m services.national_portal.main`."""

from __future__ import annotations

from services.national_portal.settings import Settings
from shared.serve import run_service


def main() -> None:
    run_service("services.national_portal.app:create_app", Settings())


if __name__ == "__main__":
    main()
