"""Seed panels: variables filled in, shown where their metrics exist, valid on real Prometheus."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from config import Upstream
from datasources.cache import Cache
from datasources.prometheus import Prometheus
from query import panels as presets
from query.timerange import plan
from tests.metrics_stack import DAY, INSTANCES, MINUTE, instance_series


def test_variables_and_intervals_are_filled_in():
    query = 'rate(x{job=~"$job", instance=~"${instance}"}[$__rate_interval]) # $__interval'
    out = presets.expand(query, step=60, scrape_interval=15, job="api",
                         instance=["a:1", "b:2"])
    assert out == 'rate(x{job=~"api", instance=~"a:1|b:2"}[75s]) # 1m'


def test_rate_interval_is_at_least_four_scrapes():
    assert presets.expand("[$__rate_interval]", step=10, scrape_interval=15) == "[1m]"


def test_no_choice_means_every_value():
    out = presets.expand('{job=~"$job",instance=~"$instance"}', step=1, scrape_interval=1)
    assert out == '{job=~".*",instance=~".*"}'


def test_variable_values_are_matched_literally_and_quoted_for_promql():
    out = presets.expand('{job=~"$job"}', step=1, scrape_interval=1, job='a.b"c\\d')
    pattern = out[len('{job=~"'):-2]
    unquoted = pattern.replace('\\"', '"').replace("\\\\", "\\")
    assert re.fullmatch(unquoted, 'a.b"c\\d') and not re.fullmatch(unquoted, 'aXb"c\\d')


def test_a_longer_name_is_not_taken_for_a_shorter_one():
    assert presets.expand("$jobs $job", step=1, scrape_interval=1, job="x") == "$jobs x"


def test_configured_panels_replace_the_seeds_with_unique_slugs():
    config = [SimpleNamespace(title="Up", query="up", unit="", legend="", group=""),
              SimpleNamespace(title="Up!", query="up * 2", unit="s", legend="{{job}}",
                              group="Mine")]
    panels = presets.configured(config)
    assert [(p.slug, p.group) for p in panels] == [("up", "Panels"), ("up-2", "Mine")]
    assert presets.configured(()) == presets.SEEDS


def test_a_panel_titled_adhoc_does_not_share_the_ad_hoc_querys_slug():
    config = [SimpleNamespace(title="Adhoc", query="up", unit="", legend="", group="")]
    assert [p.slug for p in presets.configured(config)] == ["adhoc-2"]
    assert presets.ADHOC == "adhoc"


def test_seeds_are_offered_only_where_their_metrics_exist():
    shown = presets.available(presets.SEEDS, {"node_cpu_seconds_total", "redis_connected_clients",
                                              "http_active_connections"})
    assert [p.slug for p in shown] == ["active-connections", "node-cpu", "redis-clients"]
    assert presets.available(presets.SEEDS, None) == list(presets.SEEDS)


def test_seed_slugs_are_unique():
    slugs = [p.slug for p in presets.SEEDS]
    assert len(set(slugs)) == len(slugs)


# --- on real Prometheus --------------------------------------------------------------------


@pytest.fixture
def prom(history_prometheus, tmp_path):
    upstream = Upstream("Prometheus", history_prometheus.url, timeout=10, cache_ttl=60)
    return Prometheus(upstream, Cache(tmp_path / "cache"))


def test_which_seeds_exist_on_a_real_server(prom):
    names = prom.label_values("__name__")
    groups = {p.group for p in presets.available(presets.SEEDS, set(names.value))}
    # The history has the api service and a node exporter; no redis_exporter, no cAdvisor.
    assert groups == {"Service overview", "Nodes"}


@pytest.mark.parametrize("panel", presets.SEEDS, ids=lambda p: p.slug)
def test_every_seed_is_valid_promql_for_prometheus(prom, panel, history_end):
    window = plan(history_end - 3600, history_end, max_data_points=60)
    query = presets.expand(panel.query, step=window.step, scrape_interval=60, job="api",
                           instance=list(INSTANCES))
    result = prom.query_range(query, window.start, window.end, window.step)
    assert result.error is None, result.error.describe()


def test_request_rate_seed_gives_the_backfilled_rate(prom, history_end):
    # Every minute api-1 serves rpm requests; rate() over whole minutes gives rpm / 60 per second.
    t = history_end - 6 * 3600
    query = presets.expand(presets.SEEDS[0].query, step=MINUTE, scrape_interval=60,
                           instance=INSTANCES[0])
    frame = prom.query_range(query, t, t, MINUTE).value
    times = np.arange(t - 4 * MINUTE, t + 1, MINUTE)
    counter = sum(s.values for s in instance_series(INSTANCES[0], times, history_end)
                  if s.family == "http_requests_total")
    expected = (counter[-1] - counter[0]) / (times[-1] - times[0])
    assert frame["value"].tolist() == pytest.approx([expected], rel=1e-3)


def test_variables_narrow_a_seed_to_one_instance(prom, history_end):
    panel = next(p for p in presets.SEEDS if p.slug == "active-connections")
    window = plan(history_end - 600, history_end, max_data_points=10)
    query = presets.expand(panel.query, step=window.step, scrape_interval=60,
                           instance=INSTANCES[1])
    frame = prom.query_range(query, window.start, window.end, window.step).value
    assert set(frame["instance"]) == {INSTANCES[1]}


@pytest.mark.parametrize("span", [3600, 7 * DAY], ids=["1h", "7d"])
def test_latency_seed_in_one_query_equals_three_separate_quantile_queries(prom, history_end,
                                                                          span):
    panel = next(p for p in presets.SEEDS if p.slug == "latency")
    window = plan(history_end - span, history_end, max_data_points=1000)

    def frame_of(query):
        text = presets.expand(query, step=window.step, scrape_interval=60)
        result = prom.query_range(text, window.start, window.end, window.step)
        assert result.error is None, result.error.describe()
        return result.value

    together = frame_of(panel.query)
    assert set(together["quantile"]) == {"p50", "p95", "p99"}
    for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        alone = frame_of(f"histogram_quantile({q}, sum by (le, job) (rate("
                         'http_request_duration_seconds_bucket{job=~"$job", '
                         'instance=~"$instance"}[$__rate_interval])))')
        part = together[together["quantile"] == name]
        assert len(alone) > 0.9 * window.points and len(part) == len(alone)
        for column in ("timestamp", "job"):
            assert part[column].tolist() == alone[column].tolist()
        np.testing.assert_array_equal(part["value"].to_numpy(), alone["value"].to_numpy())


def test_several_values_with_regex_characters_are_one_valid_re2_alternation(prom, history_end):
    # Each value is matched literally: "." and "|" and quotes in a value are escaped for RE2
    # and then for the PromQL string, and Prometheus accepts the result.
    panel = next(p for p in presets.SEEDS if p.slug == "active-connections")
    window = plan(history_end - 600, history_end, max_data_points=10)
    odd = ['api-1.8000', 'x|y', 'q"uo\\te', "(a+)*", "tab\there"]
    query = presets.expand(panel.query, step=window.step, scrape_interval=60,
                           instance=[INSTANCES[0], *odd])
    result = prom.query_range(query, window.start, window.end, window.step)
    assert result.error is None, result.error.describe()
    assert set(result.value["instance"]) == {INSTANCES[0]}
