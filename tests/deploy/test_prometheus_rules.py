"""deploy/prometheus: the alert rules pass promtool's check and their own unit tests, every
alert is tested both firing and silent, and the rules only name series the code exports."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.common import DEPLOY, SERVICES, exported_metric_names, metric_names_in, promtool, run

PROMETHEUS = DEPLOY / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
EXPECTED_ALERTS = {
    "DossierLateWithoutApology", "ApologyDeadlinePassed", "OverdueOpenDossiers", "ConsumerLagHigh",
    "DeadLetters", "OutboxBacklog", "DependencyDown", "ServiceDown", "NationalPortalBacklog",
    "StuckDossiers",
}
needs_promtool = pytest.mark.skipif(
    promtool() is None,
    reason="promtool is not installed (apt-get install prometheus; deploy/local/test.sh does it as root)")


def load(path: Any) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in load(ALERTS)["groups"] for r in g["rules"] if "alert" in r]


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    result = run(["promtool", "check", "rules", str(ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_runs_the_rule_unit_tests() -> None:
    result = run(["promtool", "test", "rules", str(ALERTS_TEST)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@needs_promtool
def test_promtool_checks_the_config_and_finds_the_rules_beside_it() -> None:
    # rule_files are relative to the config file, so this also proves the path resolves.
    result = run(["promtool", "check", "config", str(CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_the_expected_alerts_exist_with_severity_and_bilingual_annotations() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "an alert name is used twice"
    assert set(names) == EXPECTED_ALERTS
    for rule in rules:
        name = rule["alert"]
        assert "for" in rule, f"{name}: no for-duration"
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        summary = rule["annotations"]["summary"]
        assert rule["annotations"].get("description"), name
        vietnamese, _, english = summary.partition(" — ")
        assert english, f"{name}: summary must be 'Vietnamese — English'"
        assert not vietnamese.isascii(), f"{name}: the first half of the summary is not Vietnamese"
        assert english.replace("—", "").isascii(), f"{name}: the second half is not English"


def test_every_alert_is_tested_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    tests = load(ALERTS_TEST)
    assert tests["rule_files"] == ["alerts.yml"]
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
            for expected in check.get("exp_alerts") or []:
                assert expected.get("exp_annotations"), f"{check['alertname']}: annotations unchecked"
                assert expected["exp_labels"].get("severity"), check["alertname"]
    names = {r["alert"] for r in alert_rules()}
    assert names - firing == set(), "alerts never shown to fire"
    assert names - silent == set(), "alerts never shown to stay silent"
    assert (firing | silent) <= names, "tests of alerts that do not exist"


def test_rules_name_only_series_the_code_exports() -> None:
    known = exported_metric_names()
    for rule in alert_rules():
        used = metric_names_in(rule["expr"])
        if rule["alert"] != "ServiceDown":  # Prometheus' own `up`
            assert used, f"{rule['alert']} uses no motcua_ series"
        assert used <= known, f"{rule['alert']}: unknown series {sorted(used - known)}"


def test_prometheus_scrapes_the_five_services() -> None:
    config = load(CONFIG)
    assert config["rule_files"] == ["alerts.yml"]
    targets: dict[str, str] = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                targets[target] = job.get("metrics_path", "/metrics")
    for name in SERVICES:
        assert targets.get(f"{name}:8000") == "/metrics", f"{name} is not scraped"
