"""The demo stack's week of history: its shape, its labels, its text, written once and reused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from stack import demo_api, history, services

NODE_BODY = (Path(__file__).parents[1] / "fixtures" / "node_exporter" / "metrics.prom").read_text()
#: A Wednesday, 18:00 UTC: the incident (three days back, 14:20 UTC) is on a Sunday.
END = 1_795_629_600.0
TARGETS = history.Targets(api="127.0.0.1:8000", node="127.0.0.1:9100")


@pytest.fixture(scope="module")
def week():
    """Times, story and families of a generated week (no text: the tests read the arrays)."""
    t = history.timeline(END, 7, history.RESOLUTION)
    plot = history.story(float(t[-1]))
    rng = np.random.default_rng(5)
    families = history.api_families(t, plot, TARGETS, rng)
    families += history.node_families(t, plot, history.node_inventory(NODE_BODY), TARGETS, rng)
    return t, plot, {f.name: f for f in families}


def series(families, name, sample=None, **labels):
    """The one series of family ``name`` (sample name ``sample``) with these labels."""
    found = [s for s in families[name].series if labels.items() <= s.labels.items()
             and (sample is None or s.name == sample)]
    assert len(found) == 1, (name, labels, len(found))
    return found[0]


def increments(s):
    return np.diff(s.values, prepend=0.0)


def test_timeline_is_whole_resolution_steps_ending_at_or_before_end():
    t = history.timeline(END + 17, 7, 30)
    assert t[-1] == END and t[-1] <= END + 17
    assert set(np.diff(t).tolist()) == {30}
    assert t[-1] - t[0] == 7 * 86_400


def test_incident_is_three_days_back_after_a_bad_deploy():
    plot = history.story(END)
    start, end = plot.incident
    assert (END - start) / 86_400 == pytest.approx(3 + (18 - 14 - 1 / 3) / 24)
    assert end - start == 90 * 60
    versions = dict((v, t) for t, v in plot.deploys)
    assert versions["1.4.0"] < start < versions["1.4.1"] < end


def test_incident_spikes_errors_and_latency(week):
    t, plot, fam = week
    inside = history.in_window(t, plot.incident)
    bad = increments(series(fam, "http_requests", route="/api/tasks", status="500"))
    good = increments(series(fam, "http_requests", route="/api/tasks", status="201"))
    ratio_in = bad[inside].sum() / (bad + good)[inside].sum()
    ratio_out = bad[~inside].sum() / (bad + good)[~inside].sum()
    assert ratio_in > 0.25 and ratio_out < 0.05
    total = increments(series(fam, "http_request_duration_seconds",
                              sample="http_request_duration_seconds_sum", route="/api/search"))
    count = increments(series(fam, "http_request_duration_seconds",
                              sample="http_request_duration_seconds_count", route="/api/search"))
    mean_in, mean_out = total[inside].sum() / count[inside].sum(), \
        total[~inside].sum() / count[~inside].sum()
    assert mean_in > 4 * mean_out


def test_traffic_follows_the_day(week):
    t, _, fam = week
    served = increments(series(fam, "http_requests", route="/api/items/:id", status="200"))
    hour = (t % 86_400) // 3_600
    weekday = (t // 86_400 + 3) % 7 < 5
    afternoon = served[(hour == 15) & weekday].mean()
    night = served[(hour == 3) & weekday].mean()
    assert afternoon > 2.2 * night


def test_counters_only_grow_and_buckets_stay_cumulative(week):
    _, _, fam = week
    for name in ("http_requests", "http_request_duration_seconds", "cache_hits", "cache_misses"):
        for s in fam[name].series:
            assert (np.diff(s.values) >= 0).all(), s.labels
    buckets = [s for s in fam["http_request_duration_seconds"].series
               if s.name.endswith("_bucket") and s.labels["route"] == "/api/search"]
    stacked = np.array([s.values for s in buckets])  # in `le` order, +Inf last
    assert (np.diff(stacked, axis=0) >= 0).all()
    count = series(fam, "http_request_duration_seconds",
                   sample="http_request_duration_seconds_count", route="/api/search")
    assert (stacked[-1] == count.values).all()


def test_deploys_mark_one_version_at_a_time_ending_on_the_live_one(week):
    _, _, fam = week
    running = {s.labels["version"]: ~np.isnan(s.values) for s in fam["app_build_info"].series}
    assert list(running) == ["1.3.2", "1.4.0", "1.4.1", demo_api.VERSION]
    assert (np.sum(list(running.values()), axis=0) == 1).all()
    assert running[demo_api.VERSION][-1]


def test_node_inventory_reads_a_real_scrape():
    inv = history.node_inventory(NODE_BODY)
    assert {(lb["cpu"], lb["mode"]) for lb, _ in inv.cpu} == {
        (c, m) for c in "01" for m in ("idle", "iowait", "irq", "nice", "softirq", "steal",
                                       "system", "user")}
    assert inv.memory == (2.5276063744e10, 2.4689188864e10)
    assert [(lb["mountpoint"], size) for lb, _, size in inv.filesystems] == [
        ("/", 2.70553174016e11)]
    assert {(n, lb["device"]) for n, lb, _ in inv.network} >= {
        ("node_network_receive_bytes_total", "eth0"), ("node_network_transmit_bytes_total", "ifb0")}


def test_node_series_end_where_the_live_exporter_is(week):
    _, _, fam = week
    inv = history.node_inventory(NODE_BODY)
    for labels, live in inv.cpu:
        s = series(fam, "node_cpu_seconds", **labels)
        assert s.values[-1] == pytest.approx(live, abs=0.01)
        assert (s.values >= 0).all()
        assert (np.diff(s.values) < 0).sum() <= 1  # at most one restart: the host's boot
    for name, labels, live in inv.network:
        s = series(fam, name.removesuffix("_total"), **labels)
        assert s.values[-1] == live
        assert (s.values == 0).all() if live == 0 else s.values.max() > 0
    avail = series(fam, "node_memory_MemAvailable_bytes")
    assert avail.values[-1] == inv.memory[1]


def test_anchored_counter_restarts_instead_of_going_negative():
    cumulative = np.array([0.0, 10, 20, 30, 40])
    assert history.anchored(cumulative.copy(), 100).tolist() == [60, 70, 80, 90, 100]
    assert history.anchored(cumulative.copy(), 15).tolist() == [40, 50, 60, 5, 15]


def live_exposition() -> str:
    """What the demo API's /metrics says after one request per route."""
    metrics = demo_api.Metrics()
    for r in demo_api.ROUTES:
        metrics.requests.labels(r.method, r.route, r.ok).inc()
        metrics.duration.labels(r.route).observe(0.01)
    return generate_latest(metrics.registry).decode()


def test_history_has_the_live_api_label_names_and_buckets(week):
    _, _, fam = week
    from prometheus_client.parser import text_string_to_metric_families as parse_text

    live = {(s.name, frozenset(s.labels) | {"job", "instance"}, s.labels.get("le"))
            for f in parse_text(live_exposition()) for s in f.samples
            # the live API turns the _created series off (demo_api.main)
            if s.name.startswith(("http_request", "app_build")) and not s.name.endswith("_created")}
    made = {(s.name, frozenset(s.labels), s.labels.get("le"))
            for name in ("http_requests", "http_request_duration_seconds", "app_build_info")
            for s in fam[name].series}
    assert live <= made


AWKWARD = history.Targets('api "x"\\ ünï', "node\nline")


def test_text_is_openmetrics_with_escaped_labels():
    text = history.generate(END, AWKWARD, NODE_BODY, days=0.02)
    assert text.endswith("# EOF\n")
    # prometheus_client's strict parser rejects any histogram sampled at more than one time
    # (even a minimal valid one), so it reads the other families; promtool reads all below.
    start, end = text.index("# HELP http_request_duration"), text.index("# HELP http_active")
    families = {f.name: f for f in text_string_to_metric_families(text[:start] + text[end:])}
    assert {"http_requests", "node_cpu_seconds", "app_build_info", "up"} <= set(families)
    ups = {s.labels["instance"]: float(s.timestamp) for s in families["up"].samples}
    assert ups == {AWKWARD.api: END, AWKWARD.node: END}


def test_promtool_reads_the_text_back_with_the_same_labels(tmp_path):
    text = history.generate(END, AWKWARD, NODE_BODY, days=0.02)
    services.backfill_openmetrics(text, tmp_path / "data", workdir=tmp_path)
    (tmp_path / "data" / "wal").mkdir()  # `tsdb dump` wants one
    dump = subprocess.run([services.find_binary("promtool"), "tsdb", "dump", "--match=up",
                           str(tmp_path / "data")], capture_output=True, text=True, check=True)
    lines = dump.stdout.splitlines()
    assert len(lines) == 2 * 58  # two targets, 0.02 days of 30 s steps
    first = int(END - 57 * 30) * 1000
    assert lines[0] == f'{{__name__="up", instance="api \\"x\\"\\\\ ünï", job="api"}} 1 {first}'
    assert '{__name__="up", instance="node\\nline", job="node"} 1' in dump.stdout


def test_history_is_written_once_then_reused(tmp_path):
    data = tmp_path / "data"
    calls = []

    def node_metrics():
        calls.append(1)
        return NODE_BODY

    first = history.ensure_history(data, TARGETS, node_metrics, days=0.05, say=lambda s: None)
    assert first.generated and len(calls) == 1
    assert [p for p in data.iterdir() if (p / "meta.json").is_file()]

    def no_backfill(*args, **kwargs):
        raise AssertionError("history must not be written twice")

    again = history.ensure_history(data, TARGETS, node_metrics, days=0.05, say=lambda s: None,
                                   backfill=no_backfill)
    assert not again.generated and again.start == first.start and len(calls) == 1


def test_a_data_dir_without_marker_is_started_afresh(tmp_path):
    data = tmp_path / "data"
    (data / "wal").mkdir(parents=True)
    said = []
    made = history.ensure_history(data, TARGETS, lambda: NODE_BODY, days=0.02, say=said.append)
    assert made.generated and not (data / "wal").exists()
    assert "interrupted first run" in said[0]
