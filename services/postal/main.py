"""Runs the postal service under uvicorn: `python -m services.postal.main`."""

from __future__ import annotations

from services.postal.settings import Settings
from shared.serve import run_service


def main() -> None:
    run_service("services.postal.app:create_app", Settings())


if __name__ == "__main__":
    main()
