"""The per-unit Prometheus gauges render every figure that is a number, skip text (the
Decree 61 grade), and parse as Prometheus text."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.metrics.adapters.live import UnitFiguresCollector
from services.metrics.domain.figures import Figures
from services.metrics.domain.index766 import Counts, score_index
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK


def test_gauges_render_numbers_and_skip_text() -> None:
    graded = Figures(received=3, ratings_total=2, decree61_mean=16.5, decree61_grade="excellent",
                     on_time_rate=0.75)
    graded.ratings["very_satisfied"] = 2
    index = score_index({"2.1": Counts(8862, 10000), "4.1": Counts(6425, 10000)})
    hub = SimpleNamespace(cache={"H26.01": Figures(), "H26.02": graded},
                          index_cache={"H26.02": index},
                          reader=SimpleNamespace(rulebook=load_rulebook(str(DEFAULT_RULEBOOK))))
    collector = UnitFiguresCollector(hub)  # type: ignore[arg-type]
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("motcua_unit_received", (("block", "department"), ("unit", "H26.02")))] == 3
    assert samples[("motcua_unit_decree61_mean", (("block", "department"), ("unit", "H26.02")))] == 16.5
    assert samples[("motcua_unit_ratings", (("block", "department"), ("key", "very_satisfied"),
                                            ("unit", "H26.02")))] == 2
    # None is absent, not zero: the unit without ratings has no satisfaction sample.
    assert ("motcua_unit_on_time_rate", (("block", "department"), ("unit", "H26.01"))) not in samples
    assert "excellent" not in text
    # The national index: the total and the six groups, for the units computed so far.
    assert samples[("motcua_unit_index766_total", (("block", "department"), ("unit", "H26.02")))] \
        == float(index.total) == 17.72 + 3.86
    assert samples[("motcua_unit_index766_group", (("block", "department"), ("group", "progress"),
                                                   ("unit", "H26.02")))] == 17.72
    assert not any(name == "motcua_unit_index766_total" and ("unit", "H26.01") in labels
                   for name, labels in samples)
