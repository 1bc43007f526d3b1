"""The demo log store: the LogQL it adds, tailing, segments on disk, the backfilled week."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
import requests

from stack import history, log_backfill, log_store, services
from stack.demo_api import ROUTES, DemoAPI, JsonLog, Metrics, Redis
from stack.loki_api import LokiAPI
from stack.poll import until

T0 = 1_714_564_800 * 10**9
API = "/loki/api/v1"


def query(api, text, **params):
    params = {"start": str(T0), "end": str(T0 + 10**12), "limit": "1000",
              "direction": "forward", **params}
    return requests.get(api.url + API + "/query_range", params={"query": text, **params},
                        timeout=10)


def found(api, text, key="n", **params):
    """The ``key`` field of every JSON line returned, in time order."""
    resp = query(api, text, **params)
    assert resp.status_code == 200, resp.text
    rows = sorted((v[0], v[1]) for s in resp.json()["data"]["result"] for v in s["values"])
    return [json.loads(line).get(key) for _, line in rows]


@pytest.fixture(scope="module")
def numbers():
    lines = [{"n": 1, "ms": 5}, {"n": 2, "ms": 999.5}, {"n": 3, "ms": 1000}, {"n": 4, "ms": 1500},
             {"n": 5, "ms": "slow"}, {"n": 6}, {"n": 7, "ms": -2, "took": "1.5s", "size": "2KiB"},
             {"n": 8, "ms": 2e3, "took": "250ms", "size": "512"}]
    with LokiAPI() as api:
        api.load([(T0 + i * 10**9, {"job": "x"}, json.dumps(x)) for i, x in enumerate(lines)])
        yield api


@pytest.mark.parametrize(("flt", "expected"), [
    ("ms > 1000", [4, 5, 8]),        # 5 does not convert: kept, with __error__
    ("ms >= 1000", [3, 4, 5, 8]),
    ("ms < 1000", [1, 2, 5, 7]),
    ("ms <= 999.5", [1, 2, 5, 7]),
    ("ms == 1000", [3, 5]),
    ("ms = 1000", [3, 5]),
    ("ms != 1000", [1, 2, 4, 5, 7, 8]),  # 6 has no ms: a numeric filter drops it
    ("ms > -3 and ms < 6", [1, 5, 7]),
    ("ms > 1000 or n == 1", [1, 4, 5, 8]),
    ("ms < 10, n > 6", [5, 7]),
    ("ms < 10 n > 6", [5, 7]),
    # left to right: (ms < 10 or n == 6) and n > 1, unless parenthesised
    ('ms < 10 or n == 6 and n > 1', [5, 6, 7]),
    ('ms < 10 or (n == 6 and n > 1)', [1, 5, 6, 7]),
    ("took > 1s", [7]),
    ("took <= 250ms", [8]),
    ("size >= 2KB", [7]),
    ("size < 1kib", [8]),
])
def test_numeric_duration_and_byte_label_filters(numbers, flt, expected):
    assert found(numbers, f'{{job="x"}} | json | {flt}') == expected


def test_a_value_that_does_not_convert_gets_lokis_error_label(numbers):
    resp = query(numbers, '{job="x"} | json | ms > 1000')
    labels = {json.loads(v[1])["n"]: s["stream"] for s in resp.json()["data"]["result"]
              for v in s["values"]}
    assert labels[5]["__error__"] == "LabelFilterErr"
    assert "slow" in labels[5]["__error_details__"]
    assert "__error__" not in labels[4]
    # only a string filter drops it
    assert found(numbers, '{job="x"} | json | ms > 1000 | __error__=""') == [4, 8]
    assert found(numbers, '{job="x"} | json | ms > 1000 | ms > 1600') == [5, 8]


def test_pipeline_errors_fail_metric_queries_only_when_strict(numbers):
    metric = 'sum(count_over_time({job="x"} | json | ms > 1000 [1h]))'
    lenient = query(numbers, metric, step="60")
    assert lenient.status_code == 200
    with LokiAPI(pipeline_errors=True) as strict:
        strict.data = numbers.data
        resp = query(strict, metric, step="60")
        assert resp.status_code == 400
        assert resp.text.startswith("pipeline error: 'LabelFilterErr' for series: '{")
        skipped = query(strict, metric.replace("1000", '1000 | __error__=""'), step="60")
        assert skipped.status_code == 200


def test_logfmt_lines_parse_and_filter():
    lines = ['level=info msg="all good" took=12ms status=200',
             'level=error msg="upstream \\"db\\" down" took=1.2s status=503', "no pairs here"]
    with LokiAPI() as api:
        api.load([(T0 + i, {"job": "w"}, x) for i, x in enumerate(lines)])
        resp = query(api, '{job="w"} | logfmt | status >= 500 and took > 1s')
        [stream] = resp.json()["data"]["result"]
        assert stream["stream"]["msg"] == 'upstream "db" down'
        assert [v[1] for v in stream["values"]] == [lines[1]]


@pytest.mark.parametrize(("text", "named"), [
    ('{job="x"} | json | line_format "{{.n}}"', "line_format stage"),
    ('{job="x"} | json | unwrap ms', "unwrap stage"),
    ('{job="x"} | pattern "<a> <b>"', "pattern stage"),
    ('{job="x"} | json n="n"', "json with parameters"),
    ('{job="x"} | logfmt --strict', "logfmt with parameters or flags"),
    ('{job="x"} |> "<_> x"', "pattern line filter |>"),
    ('{job="x"} |= "a" or "b"', "'or' between line filters"),
    ('topk(3, count_over_time({job="x"}[1m]))', "function topk"),
    ('sum_over_time({job="x"} | json | unwrap ms [1m])', "function sum_over_time"),
    ('sum without (job) (count_over_time({job="x"}[1m]))', "sum without"),
    ('count_over_time({job="x"}[1m] offset 1h)', "offset"),
    ('{job="x"} | json | addr = ip("10.0.0.0/8")', "label filter value ip"),
])
def test_logql_beyond_the_subset_is_a_400_naming_it(numbers, text, named):
    resp = query(numbers, text, step="60")
    assert resp.status_code == 400
    assert resp.text.startswith("unsupported LogQL") and named in resp.text


# ---------------------------------------------------------------- tailing


def parse_plain(text, now_ns):
    return json.loads(text)["t"], {"job": "t"}, text


def write(path, *ts, mode="a"):
    with open(path, mode) as out:
        out.writelines(json.dumps({"t": t}) + "\n" for t in ts)


def times(entries):
    return [e[0] for e in entries]


def test_tail_reads_appended_lines_across_rotation_and_truncation(tmp_path):
    path = tmp_path / "app.log"
    tail = log_store.Tail(path, parse_plain)
    assert tail.read(0) == []  # no file yet
    write(path, 1, 2)
    with open(path, "a") as out:
        out.write('{"t": 3}')  # not a whole line yet
    assert times(tail.read(0)) == [1, 2]
    with open(path, "a") as out:
        out.write("\n")
    write(path, 4)
    assert times(tail.read(0)) == [3, 4]
    write(path, 5)  # written just before the rotation: still read, from the old file
    os.replace(path, tmp_path / "app.log.1")
    write(path, 6, 8)
    assert times(tail.read(0)) == [5, 6, 8]
    write(path, 7, mode="w")  # truncated: shorter than where reading stopped
    assert times(tail.read(0)) == [7]
    assert tail.read(0) == []


def test_a_restarted_tail_resumes_where_it_stopped(tmp_path):
    path = tmp_path / "app.log"
    write(path, 1, 2)
    first = log_store.Tail(path, parse_plain)
    assert times(first.read(0)) == [1, 2]
    write(path, 3)
    again = log_store.Tail(path, parse_plain, first.position())
    assert times(again.read(0)) == [3]
    rotated = log_store.Tail(path, parse_plain, {"inode": -1, "offset": 5})
    assert times(rotated.read(0)) == [1, 2, 3]  # another file now: read it whole


# ---------------------------------------------------------------- the store


def make_store(directory, api_log, cap_mb=1.0, now=lambda: 2_000_000_000.0):
    tails = [log_store.Tail(api_log, log_store.api_parser(str(api_log)),
                            log_store.LogStore(directory, []).positions().get(str(api_log)))]
    return log_store.LogStore(directory, tails, cap_mb=cap_mb, now=now).open(None)


def api_lines(path, start_s, count, size=0):
    with open(path, "a") as out:
        for i in range(count):
            stamp = log_backfill.stamp((start_s + i) * 10**6)
            out.write(json.dumps({"timestamp": stamp, "level": "info", "n": i,
                                  "pad": "x" * size}) + "\n")


def test_store_serves_tailed_lines_and_keeps_them_across_a_restart(tmp_path):
    api_log = tmp_path / "api.log"
    store = make_store(tmp_path / "store", api_log)
    api_lines(api_log, 1_999_999_990, 5)
    api_lines(api_log, 2_000_000_000, 3)  # under a second old: held back until it settles
    assert store.feed() == 5
    assert len(store.data) == 5
    assert store.data.streams == [{"job": "api", "service": "demo-api",
                                   "filename": str(api_log), "level": "info"}]
    api_lines(api_log, 2_000_000_003, 2)  # written while the store is down
    again = make_store(tmp_path / "store", api_log, now=lambda: 2_000_000_009.0)
    assert len(again.data) == 8  # from the segments, the held-back lines too
    assert again.feed() == 2     # then on from where it stopped: none lost, none twice
    assert len(make_store(tmp_path / "store", api_log).data) == 10


def test_store_stays_under_its_cap_dropping_the_oldest(tmp_path):
    api_log = tmp_path / "api.log"
    store = make_store(tmp_path / "store", api_log, cap_mb=0.5)
    store.segments.segment_bytes = 100_000
    for batch in range(12):
        api_lines(api_log, 1_000_000_000 + batch * 100, 100, size=900)
        store.feed()
    assert store.segments.size() <= 0.5 * (1 << 20) + 100_000
    assert len(store.segments.files()) < 12
    oldest = int(store.data.ts[0]) // 10**9
    assert oldest > 1_000_000_000  # the first batches are gone from memory too
    reloaded = make_store(tmp_path / "store", api_log, cap_mb=0.5)
    assert int(reloaded.data.ts[0]) // 10**9 == oldest
    assert len(reloaded.data) == len(store.data)


# ---------------------------------------------------------------- the backfilled week

#: A Wednesday, 18:00 UTC (as tests/stack/test_history.py): the incident is three days back.
END = 1_795_629_600.0


@pytest.fixture(scope="module")
def week():
    t = history.timeline(END, 7, history.RESOLUTION)
    spec = log_backfill.Week(float(t[0]), float(t[-1]), history.RESOLUTION, "127.0.0.1:8000",
                             "/s/api.log", "/s/access.log")
    families = history.api_families(t, history.story(float(t[-1])),
                                    history.Targets(api="127.0.0.1:8000", node=""),
                                    np.random.default_rng(5))
    return SimpleNamespace(t=t, spec=spec, entries=log_backfill.entries(spec),
                           requests=families[0])


def per_minute(seconds: np.ndarray, weights=None) -> np.ndarray:
    """Counts per whole minute of the week, from the first minute of the timeline."""
    return np.bincount(seconds, weights=weights, minlength=7 * 1440 + 2)


def test_backfilled_5xx_lines_are_the_metrics_error_increase_minute_by_minute(week):
    start = int(week.t[0]) // 60
    five_xx = [e for e in week.entries if e[1]["job"] == "api"
               and '"logger":"api.http"' in e[2] and json.loads(e[2])["status_code"] >= 500]
    logged = per_minute(np.array([e[0] // 10**9 // 60 - start for e in five_xx]))
    increase = np.zeros_like(logged)
    for series in week.requests.series:
        if series.labels["status"].startswith("5"):
            steps = log_backfill.increments(series)
            # a step's requests end in the 30 s before its sample time
            np.add.at(increase, (week.t - 1) // 60 - start, steps)
    assert logged.sum() == increase.sum() > 0
    assert np.array_equal(logged, increase)
    begin, end = history.story(float(week.t[-1])).incident
    inside = slice(int(begin) // 60 - start, int(end) // 60 - start)
    outside = np.concatenate([logged[:inside.start], logged[inside.stop:]])
    assert logged[inside].mean() > outside.max() and logged[inside].mean() > 5 * outside.mean()


def test_nginx_sees_the_same_errors_and_every_line_has_the_live_shape(week):
    api = [json.loads(e[2]) for e in week.entries if e[1]["job"] == "api"]
    nginx = [(e[1], json.loads(e[2])) for e in week.entries if e[1]["job"] == "nginx"]
    http = [x for x in api if x["logger"] == "api.http"]
    assert len(nginx) == len(http)
    assert (sum(x["status_code"] >= 500 for _, x in nginx)
            == sum(x["status_code"] >= 500 for x in http))
    assert all(lb["level"] == log_backfill.status_level(x["status_code"]) for lb, x in nginx)
    assert list(http[0]) == ["timestamp", "level", "logger", "message", "request_id", "user_id",
                             "trace_id", "span_id", "method", "route", "status_code", "duration_ms"]
    messages = {x["message"] for x in api}
    for text in ("task creation failed: database timeout after 2 s",
                 "WebSocket disconnected (close code 1006)", "search backend timed out",
                 "demo API 1.4.1 listening on 127.0.0.1:8000"):
        assert text in messages
    assert any(m.startswith("authentication failed for user-") for m in messages)
    slow = [x for x in http if x["duration_ms"] > 1000 and x["route"] != "/api/ws"]
    assert slow and all(x["message"].endswith("(slow request)") for x in slow)
    assert {r.route for r in ROUTES} <= {x["route"] for x in http}


def test_the_store_backfills_once_and_loads_the_week_quickly(tmp_path, week):
    spec = log_backfill.Week(week.spec.start + 6 * 86400, week.spec.end, 30, "127.0.0.1:8000",
                             str(tmp_path / "api.log"), str(tmp_path / "access.log"))
    store = log_store.LogStore(tmp_path / "store", []).open(spec)
    count = len(store.data)
    assert count > 1000 and (tmp_path / "store" / log_store.MARKER).is_file()
    again = log_store.LogStore(tmp_path / "store", []).open(spec)
    assert len(again.data) == count  # not written twice


@pytest.mark.parametrize("by", ["", "by (n)", "by (took, level)"])
def test_metric_queries_count_what_the_log_query_returns(numbers, by):
    log = '{job="x"} | json | ms >= 999.5 or took = "1.5s"'
    resp = query(numbers, f"sum {by} (count_over_time({log} [1h]))", step="3600",
                 start=str(T0 + 3600 * 10**9 - 1), end=str(T0 + 3600 * 10**9))
    series = resp.json()["data"]["result"]
    assert sum(float(s["values"][0][1]) for s in series) == len(found(numbers, log)) == 6
    if by == "by (n)":
        assert sorted(s["metric"]["n"] for s in series) == ["2", "3", "4", "5", "7", "8"]


def shape(line: str) -> tuple:
    """A JSON line's field names in order, its logger and its message with numbers as N."""
    record = json.loads(line)
    message = re.sub(r"\d+", "N", record.get("message", ""))
    return tuple(record), record.get("logger"), message


def test_backfilled_api_lines_have_the_live_apis_shape(redis_server, tmp_path, week):
    failing = {r.route: dataclasses.replace(r, fail_ratio=1.0) for r in ROUTES}
    live = DemoAPI(Redis(redis_server.host, redis_server.port), JsonLog(tmp_path / "api.log"),
                   Metrics(), sleep=lambda seconds: None, routes=failing)
    headers = {"X-User-ID": "user-17"}
    live.handle("POST", "/api/tasks", headers, b"{}")
    live.handle("GET", "/api/search?q=x", headers, b"")
    live.handle("POST", "/api/auth/login", headers, b'{"password": "wrong"}')
    live.log.close()
    live_shapes = {shape(x) for x in (tmp_path / "api.log").read_text().splitlines()}
    backfilled = {shape(e[2]) for e in week.entries if e[1]["job"] == "api"}
    assert len(live_shapes) == 6 and live_shapes <= backfilled


def test_backfilled_nginx_lines_have_the_live_nginx_shape(tmp_path, week):
    with services.start_nginx(tmp_path / "nginx") as nginx:
        requests.get(nginx.url + "/", timeout=5)
        until(lambda: (tmp_path / "nginx" / "access.log").read_text().strip(), 5)
    live = json.loads((tmp_path / "nginx" / "access.log").read_text().splitlines()[0])
    backfilled = json.loads(next(e[2] for e in week.entries if e[1]["job"] == "nginx"))
    assert list(live) == list(backfilled)
    assert {k: type(v) for k, v in live.items()} == {k: type(v) for k, v in backfilled.items()}
