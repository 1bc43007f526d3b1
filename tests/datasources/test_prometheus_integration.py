"""The Prometheus datasource against a real Prometheus holding a known, backfilled history.

``tests/prom_history.py`` defines 31 days of samples; promtool writes them as TSDB blocks and
Prometheus serves them. Every value checked here is derived from that definition.
"""

from __future__ import annotations

import math
import time

import pytest

from config import Upstream
from datasources.cache import Cache
from datasources.errors import QueryError, Unreachable
from datasources.prometheus import Prometheus
from query import timerange
from stack import services
from tests import prom_history as history

H, D = 3600, 86400


@pytest.fixture(scope="module")
def history_server(tmp_path_factory):
    """(Prometheus on the backfilled history, the history's last sample time)."""
    end = history.history_end(time.time())
    base = tmp_path_factory.mktemp("prom-history")
    config = services.scrape_config({}, interval="15s")
    # One big block instead of 2 h ones: promtool takes ~1 s per day of 2 h blocks.
    with services.start_prometheus(base, config_yaml=config, history=[history.openmetrics(end)],
                                   max_block_duration="744h", retention="60d") as proc:
        yield proc, end


def upstream(url: str, timeout: float = 10.0) -> Upstream:
    return Upstream("Prometheus", url, timeout=timeout, cache_ttl=0.01)


@pytest.fixture
def prom(history_server, tmp_path):
    proc, _ = history_server
    return Prometheus(upstream(proc.url), Cache(tmp_path / "cache"))


@pytest.fixture
def end(history_server):
    return history_server[1]


@pytest.mark.parametrize("span, step", [(H, 5), (7 * D, 900), (30 * D, H)])
def test_range_frames_are_exact_at_1h_7d_30d_with_aligned_friendly_steps(prom, end, span, step):
    # An unaligned range ending 3 h 17 s before the last sample, as a zoom would give.
    to = end - 3 * H - 17
    window = timerange.plan(to - span, to, max_data_points=1000)
    assert window.step == step
    result = prom.query_range("demo_value", window.start, window.end, window.step)
    assert result.ok, result.error
    frame = result.value
    grid = [window.start + i * step for i in range(window.points)]
    assert window.points <= 1001
    for inst in history.INSTANCES:
        rows = frame[frame["instance"] == inst]
        expected = [(t, v) for t in grid if (v := history.expected_at(inst, t, end)) is not None]
        got = list(zip(rows["timestamp"].astype("int64") // 10**9, rows["value"], strict=True))
        assert got == expected
        assert all(t % step == 0 for t, _ in got)


def test_the_30_day_range_shows_the_missing_day_as_missing_rows(prom, end):
    window = timerange.plan(end - 30 * D, end)
    frame = prom.query_range('demo_value{instance="c"}', *window).value
    lo, hi = history.gap(end)
    inside = frame[(frame["timestamp"].astype("int64") // 10**9 > lo)
                   & (frame["timestamp"].astype("int64") // 10**9 < hi)]
    assert inside.empty
    assert len(frame) == window.points - 23  # 24 hours of grid points minus the one at lo


def test_instant_query_gives_each_series_latest_value(prom, end):
    at = end - 12_345
    frame = prom.query("demo_value", time=at).value
    assert dict(zip(frame["instance"], frame["value"], strict=True)) == {
        i: history.expected_at(i, at, end) for i in history.INSTANCES}


def test_nan_and_infinities_survive_the_whole_path(prom, end):
    frame = prom.query_range("demo_special", end - 120, end, 60).value
    values = frame.groupby("kind", observed=True)["value"].first().to_dict()
    assert values["inf"] == math.inf and values["minus_inf"] == -math.inf
    assert math.isnan(values["nan"]) and values["one"] == 1


def test_label_names_and_values_for_variables(prom):
    assert prom.label_values("instance", match="demo_value").value == ["a", "b", "c"]
    assert prom.label_values("__name__").value == ["demo_labels", "demo_special", "demo_value"]
    assert sorted(prom.label_values("path").value) == sorted(history.AWKWARD)
    assert prom.label_names(match="demo_special").value == ["__name__", "job", "kind"]


def test_health_and_buildinfo(prom, history_server):
    assert prom.health().value is True
    assert prom.buildinfo().value["version"].startswith("2.")


def test_a_long_query_is_posted_as_a_form(prom, end):
    # ~1.1 MB: over Prometheus' 1 MB header limit, so only a POSTed form gets through.
    alternatives = "|".join(f"x{i}" for i in range(150_000))
    result = prom.query(f'demo_value{{instance=~"a|{alternatives}"}}', time=end)
    assert result.ok, result.error
    assert result.value["instance"].tolist() == ["a"]


# --- errors from the live server --------------------------------------------------------------

def test_parse_error_is_a_query_error_with_prometheus_text(prom):
    result = prom.query("sum(rate(demo_value[5m])")
    assert isinstance(result.error, QueryError) and result.value is None and not result.stale
    assert (result.error.status, result.error.error_type) == (400, "bad_data")
    assert result.error.message == (
        'invalid parameter "query": 1:25: parse error: unclosed left parenthesis')


def test_execution_error_is_a_422_query_error(prom, end):
    result = prom.query('label_replace(demo_value, "instance", "same", "", "")', time=end)
    assert isinstance(result.error, QueryError)
    assert (result.error.status, result.error.error_type) == (422, "execution")
    assert result.error.message == "vector cannot contain metrics with the same labelset"


def test_too_many_points_is_refused_by_prometheus_and_never_planned(prom, end):
    result = prom.query_range("demo_value", end - 11_001, end, 1)
    assert isinstance(result.error, QueryError) and result.error.status == 400
    assert result.error.message.startswith("exceeded maximum resolution of 11,000 points")
    window = timerange.plan(end - 11_001, end, max_data_points=20_000)
    assert prom.query_range("demo_value", *window).ok


def test_server_side_timeout_reports_prometheus_own_words(history_server, end, tmp_path):
    proc, _ = history_server
    heavy = "sum(demo_value) * on() group_left() sum(demo_value)"
    for attempt in range(10):
        # A fresh cache each time: an Unreachable starts the upstream's backoff.
        p = Prometheus(upstream(proc.url), Cache(tmp_path / f"c{attempt}"), eval_timeout=0.001)
        result = p.query_range(heavy, end - 30 * D, end, 300)
        if getattr(result.error, "error_type", None) == "timeout":
            break
    assert isinstance(result.error, Unreachable) and result.error.status == 503
    assert result.error.describe() == (
        "Prometheus unreachable: timeout: HTTP 503: query timed out in expression evaluation")


def test_closed_port_is_unreachable(closed_port, tmp_path):
    p = Prometheus(upstream(f"http://127.0.0.1:{closed_port}"), Cache(tmp_path / "cache"))
    result = p.query("up")
    assert isinstance(result.error, Unreachable) and result.value is None
    assert result.error.describe() == "Prometheus unreachable: connection refused"


def test_a_server_that_never_answers_times_out_on_our_side(black_hole, tmp_path):
    host, port = black_hole
    p = Prometheus(upstream(f"http://{host}:{port}", timeout=0.3), Cache(tmp_path / "cache"))
    started = time.monotonic()
    result = p.query("up")
    assert time.monotonic() - started < 2
    assert result.error.describe() == "Prometheus unreachable: timed out after 0.3 s"


def test_stale_value_is_served_when_prometheus_goes_away(tmp_path):
    config = services.scrape_config({}, interval="15s")
    proc = services.start_prometheus(tmp_path / "prom", config_yaml=config)
    cache = Cache(tmp_path / "cache")
    p = Prometheus(upstream(proc.url), cache)
    try:
        fresh = p.query("vector(7)", time=1_700_000_000)
    finally:
        proc.stop()
    stale = p.query("vector(7)", time=1_700_000_000, force=True)
    assert fresh.ok and fresh.value["value"].tolist() == [7.0]
    assert stale.stale and isinstance(stale.error, Unreachable)
    assert stale.value["value"].tolist() == [7.0]
    assert stale.fetched_at == fresh.fetched_at
    assert stale.stale_badge().endswith("Prometheus unreachable: connection refused")
