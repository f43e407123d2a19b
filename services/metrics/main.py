"""Runs the metrics service under uvicorn: `python -m services.metrics.main`."""

from __future__ import annotations

from services.metrics.settings import Settings
from shared.serve import run_service


def main() -> None:
    run_service("services.metrics.app:create_app", Settings())


if __name__ == "__main__":
    main()
