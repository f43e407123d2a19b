"""``make unit``'s last step: the branch coverage the unit tests give each pure module (every
``domain/`` module and the service layers' commands and handlers), and a failure when one is
under 90 %. Reads the data ``coverage run`` left in ``.coverage``."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parents[2]
MINIMUM = 90.0
GATED = ("services/*/domain/*.py", "services/*/service_layer/commands.py",
         "services/*/service_layer/handlers.py", "services/*/service_layer/portal_access.py")


def gated_modules() -> list[Path]:
    return sorted(p for pattern in GATED for p in ROOT.glob(pattern) if p.name != "__init__.py")


def main() -> int:
    cov = coverage.Coverage(data_file=str(ROOT / ".coverage"))
    cov.load()
    modules = gated_modules()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        cov.json_report(morfs=[str(p) for p in modules], outfile=str(out), ignore_errors=True)
        files = json.loads(out.read_text())["files"]
    short: list[str] = []
    print(f"{'module (unit tests only)':<52} {'branches':>8} {'covered':>8}")
    for path in modules:
        name = str(path.relative_to(ROOT))
        summary = files.get(name, {}).get("summary", {})
        percent = float(summary.get("percent_covered", 0.0))
        print(f"{name:<52} {summary.get('num_branches', 0):>8} {percent:>7.1f}%")
        if percent < MINIMUM:
            short.append(name)
    if short:
        print(f"under {MINIMUM:.0f} % branch coverage: {', '.join(short)}", file=sys.stderr)
        return 1
    print(f"every gated module is at {MINIMUM:.0f} % or more")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
