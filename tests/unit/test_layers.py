"""The layers hold: routes only translate HTTP (short, no SQL, no database driver), the
domain does no I/O, and SQL is written only in adapters and migrations."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROUTE_MODULES = sorted(ROOT.glob("services/*/api/*.py"))
DOMAIN_MODULES = sorted(ROOT.glob("services/*/domain/*.py"))
MAX_ROUTE_LINES = 16  # the signature and the body, not the decorator
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")


def route_handlers(path: Path) -> list[ast.AsyncFunctionDef | ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
            and any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                    and isinstance(d.func.value, ast.Name) and d.func.value.id == "router"
                    for d in node.decorator_list)]


def lines_of(node: ast.AsyncFunctionDef | ast.FunctionDef) -> int:
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def test_every_service_has_routes_to_check() -> None:
    services = {p.parts[-3] for p in ROUTE_MODULES if route_handlers(p)}
    assert services == {"intake", "processing", "postal", "feedback", "metrics", "national_portal"}


@pytest.mark.parametrize("path", ROUTE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_route_handlers_are_short_and_write_no_sql(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "asyncpg" not in text
    assert not SQL.search(text), SQL.search(text)
    long = {n.name: lines_of(n) for n in route_handlers(path) if lines_of(n) > MAX_ROUTE_LINES}
    assert not long, f"route handlers over {MAX_ROUTE_LINES} lines: {long}"


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_domain_does_no_io(path: Path) -> None:
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in (node.names if isinstance(node, ast.Import)
                              else [ast.alias(node.module or "")])}
    assert not imported & {"asyncpg", "aiokafka", "fastapi", "httpx", "starlette"}, imported
    assert not SQL.search(path.read_text(encoding="utf-8"))
