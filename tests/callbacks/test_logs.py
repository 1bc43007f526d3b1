"""callbacks/logs.py's pure part: a run resolves its range once, or says why it cannot run."""

from __future__ import annotations

import functools
import re
import time

import pytest
from dash import no_update

from callbacks import build_deps
from callbacks.logs import (
    export_range,
    field_filter,
    request,
    row_details,
    run_source,
    trouble_notice,
)
from datasources.cache import Result
from datasources.errors import QueryError, Unreachable
from datasources.export_job import export_name, exports_dir
from layouts import ids
from layouts import logs as view
from query import log_view
from query.log_queries import SEEDS

NOW = 1_714_568_400.0
STATE = {"from": "now-1h", "to": "now", "preset": "now-1h", "back": []}
run = functools.partial(request, default_limit=1000)


def test_a_run_carries_the_range_in_nanoseconds_and_a_sane_limit():
    req = run(' {job="api"} ', None, STATE, "5000", "forward", force=True, now=NOW)
    assert req["query"] == '{job="api"}'
    assert (req["start_ns"], req["end_ns"]) == (1_714_564_800 * 10**9, 1_714_568_400 * 10**9)
    assert req["limit"] == 5000 and req["direction"] == "forward" and req["force"]
    assert run("{a=\"b\"}", None, STATE, None, "backward", now=NOW)["limit"] == 1000


@pytest.mark.parametrize(("typed", "configured", "limit"), [
    (None, 250, 250), ("", 250, 250), (None, 9000, 5000), ("7", 250, 7),
])
def test_an_empty_limit_falls_back_to_the_configured_one(typed, configured, limit):
    req = request('{a="b"}', None, STATE, typed, "backward", default_limit=configured, now=NOW)
    assert req["limit"] == limit and "error" not in req


@pytest.mark.parametrize("typed", [0, "5001", 99999, "x", 2.5])
def test_a_limit_out_of_range_runs_nothing_and_says_the_range(typed):
    req = run('{a="b"}', None, STATE, typed, "backward", now=NOW)
    assert req["error"] == "limit must be a whole number from 1 to 5,000"
    assert "query" not in req


def test_a_run_that_cannot_start_says_why():
    trace = next(q.query for q in SEEDS if "$request_id" in q.query)
    assert "request_id" in run(trace, "", STATE, 10, "backward", now=NOW)["error"]
    assert run(trace, "r-1", STATE, 10, "backward", now=NOW)["query"].endswith('"r-1"')
    assert "LogQL" in run("  ", None, STATE, 10, "backward", now=NOW)["error"]
    bad = {**STATE, "from": "now", "to": "now-1h"}
    assert "before" in run("{a=\"b\"}", None, bad, 10, "backward", now=NOW)["error"]


@pytest.mark.parametrize("metric", ['sum(rate({job="api"}[5m]))', ' count_over_time({a="b"}[1m])',
                                    '(sum by (job) (rate({a="b"}[1m])))'])
def test_a_metric_query_stops_before_loki_is_asked(metric):
    req = run(metric, None, STATE, 10, "backward", now=NOW)
    # No "query" and no range: table, volume, label names and export all skip an error.
    assert req["error"] == view.METRIC_QUERY_TEXT
    assert "query" not in req and "start_ns" not in req


# --- which query a run uses ------------------------------------------------------------------

LAST = run('{job="api"}', "r-1", STATE, 10, "backward", now=NOW)
EDITED = '{job="api"} |= "half-typ'


@pytest.mark.parametrize("trigger", [
    ids.range_id(view.PREFIX, ids.RANGE_INTERVAL), ids.range_id(view.PREFIX, ids.RANGE_STATE),
    ids.LOGS_LIMIT, ids.LOGS_DIRECTION,
])
def test_refresh_and_new_range_rerun_the_last_query_not_the_unsaved_text(trigger):
    assert run_source(trigger, None, EDITED, "r-2", LAST) == ('{job="api"}', "r-1")


def test_run_and_preset_take_what_is_in_the_boxes():
    assert run_source(ids.LOGS_RUN, None, EDITED, "r-2", LAST) == (EDITED, "r-2")
    assert run_source(ids.LOGS_PRESET, '{job="x"}', EDITED, "r-2", LAST) == ('{job="x"}', "r-2")
    assert run_source(ids.LOGS_PRESET, None, EDITED, "r-2", LAST) == (EDITED, "r-2")


def test_the_first_run_takes_the_box_and_a_failed_run_is_repeated_as_asked():
    assert run_source(None, None, '{a="b"}', None, None) == ('{a="b"}', None)
    failed = run(" ", None, STATE, 10, "backward", now=NOW)
    assert run_source(ids.LOGS_DIRECTION, None, EDITED, None, failed) == (" ", None)


# --- notices -----------------------------------------------------------------------------------

def test_loki_down_notice_never_shows_the_urls_password():
    down = Result(error=Unreachable("Loki", "connection refused"))
    text = str(trouble_notice(down, "http://admin:s3cret@loki.internal:3100"))
    assert "http://loki.internal:3100" in text
    assert "s3cret" not in text and "admin" not in text


def test_a_rejected_query_is_not_noticed_twice():
    assert trouble_notice(Result(error=QueryError("Loki", "parse error")), "http://l") is None


# --- export -----------------------------------------------------------------------------------

def test_an_export_that_cannot_write_says_so_and_frees_its_name(write_config, make_loki_double):
    t0 = time.time_ns() - 30 * 60 * 10**9
    double = make_loki_double([(t0 + i, {"job": "api"}, f"line {i}") for i in range(10)])
    config = write_config(f'[loki]\nurl = "{double.url}"\n')
    folder = exports_dir(config.cache.dir)
    req = run('{job="api"}', None, STATE, 10, "forward")
    # A directory where the writer's .part file goes: open() fails as on a full or
    # read-only disk (the tests run as root, so permissions cannot be used).
    (folder / (export_name(req["start_ns"], req["end_ns"]) + ".part")).mkdir()
    download, status = export_range(build_deps(config), req, folder, lambda _: None)
    assert download is no_update
    assert "Export failed: cannot write the file: Is a directory" in str(status)
    assert str(folder) not in str(status)
    assert [p.name for p in folder.iterdir()] == [export_name(req["start_ns"], req["end_ns"])
                                                  + ".part"]


@pytest.mark.parametrize(("req", "words"), [
    (None, "Run a query first"), ({"error": "bad range"}, "Run a query first"),
    ({"query": '{a="b"}', "start_ns": "9" * 400, "end_ns": 1}, "Export failed: start_ns"),
    ([1], "Export failed: logs request: expected an object"),
])
def test_an_export_of_no_or_a_forged_request_says_why(write_config, req, words):
    config = write_config()
    download, status = export_range(build_deps(config), req, exports_dir(config.cache.dir),
                                    lambda _: None)
    assert download is no_update and words in str(status)


# --- row details ---------------------------------------------------------------------------

def texts_of(component) -> str:
    """Every string in a component tree, joined (what the page would show)."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(texts_of(c) for c in component)
    children = getattr(component, "children", None)
    return texts_of(children) if children is not None else ""


def test_row_details_show_the_streams_lines_around_the_entry(write_config, make_loki_double):
    t0 = time.time_ns() - 30 * 60 * 10**9
    api, other = {"job": "api"}, {"job": "worker"}
    double = make_loki_double([(t0 + i * 10**6, api, f'{{"n": {i}}}') for i in range(30)]
                              + [(t0 + i * 10**6 + 1, other, f"other {i}") for i in range(30)])
    deps = build_deps(write_config(f'[loki]\nurl = "{double.url}"\n'))
    row = {"labels": '{job="api"}', log_view.NS: str(t0 + 15 * 10**6), "line": '{"n": 15}',
           log_view.TIME: "t", log_view.ROW_ID: "x"}
    shown = texts_of(row_details(deps, [row]))
    found = [int(n) for n in re.findall(r'"n": (\d+)', shown)]
    # the fields table and the JSON show n 15; the context runs 5 … 25 (10 either side)
    assert sorted(set(found)) == list(range(5, 26)) and "other" not in shown


@pytest.mark.parametrize(("selected", "words"), [
    ([{"labels": '{job=~".+"}', log_view.NS: "1", "line": "x"}], "not a stream's label set"),
    ([{"labels": '{job="a"}', log_view.NS: "1e9", "line": "x"}], "not nanoseconds"),
    ([{"labels": '{job="a"}', log_view.NS: "1", "line": ["x"]}], "expected text"),
    ([{}, {}], "one selected row"),
])
def test_a_forged_selected_row_gets_a_message_not_a_query(write_config, selected, words):
    deps = build_deps(write_config('[loki]\nurl = "http://127.0.0.1:9"\n'))
    assert words in texts_of(row_details(deps, selected))


@pytest.mark.parametrize(("kind", "name", "want"), [
    ("stream", "job", '{env="prod", job="a\\"b"} |= "x"'),
    ("json", "status", '{env="prod"} |= "x" | json | status="a\\"b"'),
    ("label", "trace_id", '{env="prod"} |= "x" | trace_id="a\\"b"'),
])
def test_a_details_field_becomes_a_matcher_or_a_label_filter(kind, name, want):
    assert field_filter('{env="prod"} |= "x"', kind, name, 'a"b') == want
