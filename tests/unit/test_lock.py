"""The dependencies are locked: every one pyproject.toml names (the extras too) is pinned in
requirements.lock, and the environment the tests run in has exactly the locked versions (so
a fresh clone, which installs with the lock as constraints, runs what was tested)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from tests.conftest import ROOT


def _name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert found, requirement
    return re.sub(r"[-_.]+", "-", found.group(0)).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"not a pin: {line!r}"
        pins[_name(name)] = version
    return pins


def test_every_declared_dependency_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    pins = locked()
    missing = sorted({_name(r) for r in declared} - set(pins))
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"


def test_the_environment_has_the_locked_versions() -> None:
    drift = {name: (version, metadata.version(name)) for name, version in locked().items()
             if metadata.version(name) != version}
    assert not drift, f"installed differs from requirements.lock (run `make install`): {drift}"
