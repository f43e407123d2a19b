"""deploy/Dockerfile, read statically (no Docker engine here): one image for every service,
non-root, port 8000, no default service, and a `pip install .` that carries the package data
the services read at run time."""

from __future__ import annotations

import fnmatch
import re
import tomllib

from tests.deploy.common import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def test_every_stage_is_python_311_slim() -> None:
    bases = [rest.split()[0] for k, rest in instructions() if k == "FROM"]
    assert bases and all(b == "python:3.11-slim" for b in bases), bases


def test_final_stage_runs_as_uid_10001_on_port_8000_with_no_default_service() -> None:
    stage = final_stage()
    keywords = [k for k, _ in stage]
    users = [rest for k, rest in stage if k == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    assert any(k == "RUN" and "--uid 10001" in rest for k, rest in stage), "no user 10001 created"
    assert ("EXPOSE", "8000") in stage
    assert "CMD" not in keywords and "ENTRYPOINT" not in keywords, "the command chooses the service"
    env = " ".join(rest for k, rest in stage if k == "ENV")
    assert "MOTCUA_HOST=0.0.0.0" in env and "MOTCUA_PORT=8000" in env


def test_the_project_is_installed_with_pip_from_what_is_copied() -> None:
    steps = instructions()
    assert any(k == "RUN" and re.search(r"pip install \.(\s|$)", rest) for k, rest in steps)
    copied = [rest.split()[0] for k, rest in steps if k == "COPY" and "--from" not in rest]
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    includes = packages["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in includes:  # every installed package is in the build context
        assert pattern.rstrip("*") in copied, f"{pattern} is installed but not copied"
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    for source in [*copied, "pyproject.toml"]:
        assert source not in ignored, f"{source} is excluded from the build context"


def test_package_data_covers_every_data_file_the_services_read() -> None:
    """`pip install .` (not editable) ships only declared package data: every non-Python file
    under the packages must match a pattern, or the image misses its migrations or rulebook."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["*"]
    data_files = [p for top in ("shared", "services") for p in (ROOT / top).rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert any(p.suffix == ".sql" for p in data_files), "migrations not found"
    missing = [str(p.relative_to(ROOT)) for p in data_files
               if not any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
    assert missing == []
