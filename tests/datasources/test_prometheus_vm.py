"""The Metrics datasource on a real VictoriaMetrics: the calls the dashboard makes, unchanged.

VictoriaMetrics answers Prometheus' query API, at the root and under ``/prometheus`` (the
prefix its cluster version puts after ``/select/<tenant>``; Thanos and Mimir use their own):
``prometheus.url`` with a path keeps it in front of every API path.
"""

from __future__ import annotations

import pytest

from config import Upstream
from datasources.cache import Cache
from datasources.prometheus import Prometheus
from tests.metrics_stack import FLEET_SERIES

DAY = 86_400


@pytest.fixture(params=["", "/prometheus"], ids=["root", "path-prefix"])
def vm(request, fleet_vm, tmp_path):
    upstream = Upstream("VictoriaMetrics", fleet_vm.url + request.param, timeout=20,
                        cache_ttl=60)
    return Prometheus(upstream, Cache(tmp_path / "cache"))


def test_health_is_the_known_answer(vm):
    assert vm.health().value is True


def test_instant_query_gives_one_row_per_series(vm, history_end):
    frame = vm.query('fleet_load{instance=~"host-00.*"}', history_end).value
    assert frame["series"].nunique() == 10
    assert set(frame["instance"]) == {f"host-{i:03d}" for i in range(10)}


def test_range_query_covers_the_window_at_the_step(vm, history_end):
    start, step = history_end - DAY, 1800
    frame = vm.query_range("sum(fleet_load)", start, history_end, step).value
    times = frame["timestamp"].astype("int64") // 10**9
    assert times.min() >= start and times.max() <= history_end
    assert len(frame) == DAY // step + 1


def test_label_names_and_values_feed_the_pickers(vm):
    assert {"__name__", "instance", "job"} <= set(vm.label_names("fleet_load").value)
    assert "fleet_load" in vm.label_values("__name__").value
    assert len(vm.label_values("instance", 'fleet_load{job="fleet"}').value) == FLEET_SERIES


def test_targets_and_alerts_answer_empty_without_vmagent_or_vmalert(vm):
    # The Status tab asks for both: an empty answer, not an error, on a bare VictoriaMetrics.
    assert len(vm.targets().value) == 0 and len(vm.alerts().value) == 0
