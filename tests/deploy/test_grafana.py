"""deploy/grafana/motcua-dashboard.json: importable, driven by the datasource, block and unit
variables, showing the built-in dashboard's figures with queries that are valid PromQL over
series the code exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.common import DEPLOY, exported_metric_names, metric_names_in, promtool, run

DASHBOARD = DEPLOY / "grafana" / "motcua-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
REQUIRED = {
    "motcua_unit_on_time_rate", "motcua_unit_received", "motcua_unit_resolved", "motcua_unit_in_progress",
    "motcua_unit_late_with_timely_apology", "motcua_unit_late_with_late_apology",
    "motcua_unit_late_without_apology", "motcua_unit_overdue_open", "motcua_unit_satisfaction_rate",
    "motcua_unit_postal_received_share", "motcua_consumer_lag", "motcua_dead_letters_total",
    "motcua_outbox_pending",
}


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def panels() -> list[dict[str, Any]]:
    out = []
    for panel in dashboard()["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows
    return [p for p in out if p["type"] != "row"]


def expressions() -> list[str]:
    return [t["expr"] for p in panels() for t in p["targets"]]


def test_dashboard_header() -> None:
    data = dashboard()
    assert data["uid"] and data["title"]
    assert data["schemaVersion"] >= 36


def test_variables_datasource_block_and_unit() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    block, unit = variables["block"], variables["unit"]
    assert block["definition"] == "label_values(motcua_unit_received, block)"
    assert block["query"]["query"] == block["definition"]
    assert unit["definition"] == 'label_values(motcua_unit_received{block=~"$block"}, unit)'
    for variable in (block, unit):
        assert variable["datasource"] == DATASOURCE
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*"


def test_every_panel_and_query_uses_the_datasource_variable() -> None:
    for panel in panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]


def test_unit_figures_follow_the_block_and_unit_variables() -> None:
    for expr in expressions():
        if "motcua_unit_" in expr:
            assert 'block=~"$block"' in expr and 'unit=~"$unit"' in expr, expr


def test_the_built_in_dashboards_figures_are_shown() -> None:
    used = set().union(*(metric_names_in(e) for e in expressions()))
    assert REQUIRED - used == set()


def test_queries_name_only_series_the_code_exports() -> None:
    known = exported_metric_names()
    for expr in expressions():
        assert metric_names_in(expr) <= known, expr


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    all_panels = dashboard()["panels"]
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.skipif(promtool() is None, reason="promtool is not installed (PromQL syntax check)")
def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule, Grafana's variables filled in."""
    rules = []
    for i, expr in enumerate(expressions()):
        filled = (expr.replace("$__rate_interval", "5m").replace("$block", ".*")
                  .replace("$unit", ".*"))
        assert "$" not in filled, f"unhandled Grafana variable in {expr}"
        rules.append({"record": f"dashboard:query_{i}", "expr": filled})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = run(["promtool", "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
