"""`make chaos` in CI: every fault (SIGKILL of Kafka, PostgreSQL and each service, the national
portal's outage, then a rolling SIGTERM restart) under the simulator's load, on a stack of its
own, with a lighter load than `make chaos`. Nothing accepted may be lost, no event skipped or
counted twice, the metrics must equal the simulator's log, no outbox row may stay unsent, and
the national portal must hold every dossier at its final version."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from tests.support.api import ROOT_DIR

pytestmark = pytest.mark.integration


def chaos(local: Path, results: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.chaos.chaos", "--days", "3", "--per-day", "12",
         "--concurrency", "8", "--warmup", "4", "--between", "3", "--down", "2",
         "--local", str(local), "--kafka-port", "29292", "--pg-port", "25832",
         "--port-base", "18950", "--results", str(results)],
        cwd=ROOT_DIR, capture_output=True, text=True, timeout=1200)


def test_faults_under_load_lose_nothing_and_count_nothing_twice(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    # Under the repository's ignored .local/: PostgreSQL runs as its own user when we are
    # root, and pytest's temporary folders are closed to other users.
    local = Path(ROOT_DIR) / ".local" / f"chaos-ci-{uuid.uuid4().hex[:6]}"
    try:
        run = chaos(local, results)
    finally:
        shutil.rmtree(local, ignore_errors=True)
    assert results.exists(), run.stdout[-3000:] + run.stderr[-5000:]
    report = orjson.loads(results.read_bytes())
    audit, load = report["audit"], report["load"]
    summary = (tmp_path / "RESULTS.md").read_text()
    assert len(report["faults"]) == 10, summary
    assert audit["dossiers_accepted"] > 0 and load["attempts"] >= load["calls"], summary
    assert audit["dossiers_lost"] == 0, orjson.dumps(audit["stores"]).decode()
    assert audit["dossiers_phantom"] == 0, summary
    assert audit["events_skipped"] == 0, orjson.dumps(audit["effects"]).decode()
    assert audit["metrics_event_rows"] == audit["distinct_folded_events"], summary
    assert audit["outbox_unsent"] == 0 and audit["dead_letters"] == 0, summary
    assert audit["metrics_check_ok"], "\n".join(audit["metrics_differences"])
    assert not audit["replay"]["units_changed_by_republishing"], summary
    assert not audit["replay"]["units_differing_in_fresh_store"], summary
    # The national portal (its stand-in, down for a while too) has every dossier at its
    # final version, and never got an older one after a newer.
    assert audit["national_portal_not_at_final_version"] == 0, \
        audit["national_portal_not_at_final_examples"]
    assert audit["national_portal_regressions"] == 0, summary
    assert report["passed"] and run.returncode == 0, summary
