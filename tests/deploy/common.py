"""What the deployment tests share: paths, the six services, the tools they may call, and the
metric names the code really exports (so that alerts and dashboards cannot drift from it)."""

from __future__ import annotations

import functools
import importlib
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("intake", "processing", "postal", "feedback", "metrics", "national_portal")
METRIC_NAME = re.compile(r"\b(motcua_[a-z0-9_]+)")


def service_command(name: str) -> list[str]:
    return ["python", "-m", f"services.{name}.main"]


@functools.cache
def exported_metric_names() -> frozenset[str]:
    """Every series name the six services can expose, read from the code itself."""
    from prometheus_client import REGISTRY

    for service in SERVICES:
        importlib.import_module(f"services.{service}.app")
    names = {n for n in REGISTRY._names_to_collectors if n.startswith("motcua_")}
    # The per-unit figures come from a custom collector whose names follow the figures' fields.
    from services.metrics.adapters.live import KEYED_FIGURES, NUMERIC_FIGURES

    names |= {f"motcua_unit_{f}" for f in (*NUMERIC_FIGURES, *KEYED_FIGURES)}
    return frozenset(names)


def metric_names_in(text: str) -> set[str]:
    return set(METRIC_NAME.findall(text))


def tool(name: str) -> str | None:
    return shutil.which(name)


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, **kwargs)
    return done


def promtool() -> str | None:
    return tool("promtool")
