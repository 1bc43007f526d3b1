"""Golden tests: bodies recorded from real Prometheus and VictoriaMetrics in, frame facts out.

The bodies come from ``tests/record_prometheus_bodies.py`` on the history of
``tests/prom_history.py``; expected values are derived from that history and the recorded
request (``INDEX.json``), never typed in by hand.
"""

from __future__ import annotations

import json
import math
from http import HTTPStatus
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
import requests

from datasources import prometheus as prom
from datasources.errors import BadResponse, QueryError, Unreachable
from tests import prom_history as history

FIXTURES = Path(__file__).parents[1] / "fixtures"
INDEX = json.loads((FIXTURES / "prometheus" / "INDEX.json").read_text())
END = int(INDEX["prom_vector"]["params"]["time"])
CORE = ["timestamp", "value", "series"]
BOTH = ["prom", "vm"]


def body(name: str) -> bytes:
    return (FIXTURES / INDEX[name]["file"]).read_bytes()


def params(name: str) -> dict:
    return INDEX[name]["params"]


def demo_name(instance: str) -> str:
    return f'demo_value{{instance="{instance}",job="demo"}}'


def ts(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(int(seconds), unit="s", tz="UTC")


def response(name: str) -> requests.Response:
    """A requests.Response holding a recorded body, as ``http.request`` hands it over."""
    resp = requests.Response()
    resp.status_code = INDEX[name]["status"]
    resp.reason = HTTPStatus(resp.status_code).phrase
    resp._content = body(name)
    resp.headers["Content-Type"] = INDEX[name]["content_type"]
    return resp


# --- query results ----------------------------------------------------------------------------

@pytest.mark.parametrize("server", BOTH)
def test_vector_gives_one_row_per_series_with_labels_as_columns(server):
    frame = prom.frame_from_response(body(f"{server}_vector"))
    assert list(frame.columns) == [*CORE, "__name__", "instance", "job"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["value"].dtype == np.float64
    assert all(isinstance(frame[c].dtype, pd.CategoricalDtype)
               for c in ["series", "__name__", "instance", "job"])
    assert frame["series"].tolist() == [demo_name(i) for i in history.INSTANCES]
    assert frame["value"].tolist() == [history.expected_at(i, END, END) for i in history.INSTANCES]
    assert (frame["timestamp"] == ts(END)).all()
    assert frame.attrs["warnings"] == []


@pytest.mark.parametrize("server", BOTH)
def test_matrix_is_long_format_with_exact_values_and_times(server):
    p = params(f"{server}_matrix")
    frame = prom.frame_from_response(body(f"{server}_matrix"))
    times = range(p["start"], p["end"] + 1, p["step"])
    assert len(frame) == 3 * len(times)
    for inst in history.INSTANCES:
        rows = frame[frame["instance"] == inst]
        assert rows["timestamp"].tolist() == [ts(t) for t in times]
        assert rows["value"].tolist() == [history.expected_at(inst, t, END) for t in times]
        assert set(rows["series"]) == {demo_name(inst)}


def test_matrix_gap_leaves_no_rows_where_there_is_no_data():
    p = params("prom_matrix_gap")
    frame = prom.frame_from_response(body("prom_matrix_gap"))
    times = range(p["start"], p["end"] + 1, p["step"])
    expected = [(ts(t), v) for t in times if (v := history.expected_at("c", t, END)) is not None]
    assert list(zip(frame["timestamp"], frame["value"], strict=True)) == expected
    assert len(expected) < len(times) - 20  # the day without samples is really missing


@pytest.mark.parametrize("name", ["prom_scalar", "vm_scalar"])
def test_scalar_gives_one_row_named_empty_braces(name):
    # Prometheus answers "scalar"; VictoriaMetrics answers a vector with no labels: same frame.
    frame = prom.frame_from_response(body(name))
    assert list(frame.columns) == CORE
    assert frame["series"].tolist() == ["{}"]
    assert frame["value"].tolist() == [1.5]
    assert frame["timestamp"].tolist() == [ts(END)]


@pytest.mark.parametrize("name", ["prom_empty_vector", "prom_empty_matrix", "vm_empty_vector",
                                  "vm_empty_matrix", "vm_string"])
def test_empty_result_gives_empty_frame_with_core_columns(name):
    frame = prom.frame_from_response(body(name))
    assert frame.empty
    assert list(frame.columns) == CORE
    assert frame.dtypes.astype(str).tolist() == ["datetime64[ns, UTC]", "float64", "category"]
    pd.testing.assert_frame_equal(frame, prom.empty_frame())


def test_string_result_is_one_row_with_its_text_not_an_error():
    query = params("prom_string")["query"]
    frame = prom.frame_from_response(body("prom_string"), expr=query)
    assert frame["text"].tolist() == ["hello"] and frame["series"].tolist() == [query]
    assert frame["timestamp"].tolist() == [ts(END)] and math.isnan(frame["value"].iloc[0])


@pytest.mark.parametrize("name", ["prom_scalar", "vm_scalar"])
def test_a_series_without_labels_is_named_by_its_expression(name):
    query = params(name)["query"]
    assert prom.frame_from_response(body(name), expr=query)["series"].tolist() == [query]


@pytest.mark.parametrize("server", BOTH)
def test_nan_and_infinities_are_kept(server):
    frame = prom.frame_from_response(body(f"{server}_special_matrix"))
    by_kind = frame.groupby("kind", observed=True)["value"].apply(list).to_dict()
    assert by_kind["inf"] == [math.inf] * 3
    assert by_kind["minus_inf"] == [-math.inf] * 3
    assert by_kind["one"] == [1.0] * 3
    if server == "prom":
        assert len(by_kind["nan"]) == 3 and all(math.isnan(v) for v in by_kind["nan"])
    else:
        assert "nan" not in by_kind  # VictoriaMetrics drops NaN samples


def test_special_vector_names_the_empty_label_set_and_keeps_each_special_value():
    frame = prom.frame_from_response(body("prom_special_vector"))
    assert frame["series"].tolist() == ["{}", '{k="minus_inf"}', '{k="nan"}']
    assert frame["value"].iloc[0] == math.inf and frame["value"].iloc[1] == -math.inf
    assert math.isnan(frame["value"].iloc[2])
    assert pd.isna(frame["k"].iloc[0]) and frame["k"].tolist()[1:] == ["minus_inf", "nan"]


@pytest.mark.parametrize("server", BOTH)
def test_label_values_with_quotes_and_unicode_are_exact_and_series_names_escaped(server):
    frame = prom.frame_from_response(body(f"{server}_labels_quotes"))
    assert sorted(frame["path"]) == sorted(history.AWKWARD)
    assert sorted(frame["series"]) == sorted([
        'demo_labels{job="demo",path="Zürich ☃"}',
        'demo_labels{job="demo",path="back\\\\slash"}',
        'demo_labels{job="demo",path="say \\"hi\\""}',
    ])
    for _, row in frame.iterrows():
        assert history.AWKWARD[int(row["value"])] == row["path"]


@pytest.mark.parametrize("name", ["prom_matrix", "prom_matrix_gap", "prom_special_matrix",
                                  "vm_matrix", "vm_special_matrix"])
def test_fast_matrix_path_equals_the_plain_path(name):
    raw = body(name)
    assert prom._matrix_fast(raw, "Prometheus") is not None  # the fast path was taken
    fast = prom.frame_from_response(raw)
    pd.testing.assert_frame_equal(fast, prom.frame_from_response(orjson.loads(raw)))
    # Pretty-printed (a proxy re-indenting) is not compact: the plain path takes over.
    pretty = json.dumps(orjson.loads(raw), indent=2).encode()
    pd.testing.assert_frame_equal(prom.frame_from_response(pretty), fast)
    # Read a series at a time (a long body is read in chunks of CHUNK_BYTES): the same frame.
    doc, one_by_one, notes = prom._matrix_fast(raw, "Prometheus", chunk_bytes=1)
    one_by_one.attrs["warnings"] = prom.notes_of(doc, "Prometheus") + notes
    pd.testing.assert_frame_equal(one_by_one, fast)


def test_warnings_and_infos_are_surfaced_in_attrs():
    doc = {**orjson.loads(body("prom_vector")), "warnings": ["partial data"],
           "infos": ["metric might not be a counter"]}
    frame = prom.frame_from_response(doc)
    assert frame.attrs["warnings"] == ["partial data", "info: metric might not be a counter"]


# --- error bodies -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, error_type", [("prom_error_parse", "bad_data"),
                                              ("prom_error_422", "execution"),
                                              ("prom_error_points", "bad_data")])
def test_prometheus_errors_keep_error_type_and_text_intact(name, error_type):
    text = orjson.loads(body(name))["error"]
    assert prom.read_error(response(name)) == (error_type, text)
    with pytest.raises(QueryError) as info:
        prom.frame_from_response(body(name))
    assert (info.value.error_type, info.value.message) == (error_type, text)
    assert info.value.describe() == f"Prometheus rejected the query: {error_type}: {text}"


def test_the_11000_points_error_is_prometheus_own_words():
    _, text = prom.read_error(response("prom_error_points"))
    assert text.startswith("exceeded maximum resolution of 11,000 points per timeseries")


@pytest.mark.parametrize("name, reason", [
    ("vm_error_parse", 'argList: unexpected token ""; want ",", ")"; unparsed data: ""'),
    ("vm_error_422", 'duplicate output timeseries: demo_value{instance="same", job="demo"}'),
    ("vm_error_points", "too many points for the given step=1000"),
])
def test_victoriametrics_errors_read_as_the_reason_without_the_query_echo(name, reason):
    text = orjson.loads(body(name))["error"]
    error_type, message = prom.read_error(response(name))
    assert error_type is None  # VictoriaMetrics' errorType is the HTTP status ("422")
    assert message.startswith(reason) and text.endswith(message)
    assert INDEX[name]["status"] == 422


def test_a_timed_out_query_is_unreachable_with_the_servers_words():
    with pytest.raises(Unreachable) as info:
        prom.frame_from_response(body("prom_error_timeout"))
    assert info.value.error_type == "timeout"
    assert info.value.message == "query timed out in expression evaluation"


@pytest.mark.parametrize("name", ["prom_not_found", "proxy_502"])
def test_non_json_bodies_are_bad_responses_quoting_the_body(name):
    with pytest.raises(BadResponse, match="not JSON"):
        prom.frame_from_response(body(name))


def test_a_proxy_html_error_page_reads_as_a_proxy_error():
    assert prom.read_error(response("proxy_502")) == (
        None, "HTTP 502 Bad Gateway (HTML page from a proxy?)")


def test_a_truncated_body_is_a_bad_response():
    with pytest.raises(BadResponse, match="not JSON"):
        prom.frame_from_response(body("prom_matrix")[:-40])


@pytest.mark.parametrize("doc, message", [
    ({"status": "success"}, "no \"status\": \"success\" with data"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [{"values": [[1]]}]}},
     "pairs"),
    ({"status": "success", "data": {"resultType": "vector",
                                    "result": [{"metric": {}, "value": [1, "x"]}]}},
     "'x' is not a number"),
    ({"status": "success", "data": {"resultType": "histogram", "result": []}}, "unknown result"),
])
def test_success_bodies_that_break_the_api_promise_are_bad_responses(doc, message):
    with pytest.raises(BadResponse, match=message):
        prom.frame_from_response(doc)


# --- other endpoints --------------------------------------------------------------------------

@pytest.mark.parametrize("server", BOTH)
def test_label_endpoints_give_plain_lists(server):
    assert sorted(prom.labels_from_response(body(f"{server}_label_values_path"))) \
        == sorted(history.AWKWARD)
    assert prom.labels_from_response(body(f"{server}_metric_names")) == [
        "demo_labels", "demo_special", "demo_value"]
    assert {"__name__", "instance", "job", "kind", "path"} \
        <= set(prom.labels_from_response(body(f"{server}_label_names")))


def test_health_is_the_known_answer_two():
    assert prom.health_from_response(body("prom_health")) is True
    assert prom.health_from_response(body("vm_health")) is True
    assert prom.health_from_response(body("prom_scalar")) is False  # 1.5 is not 2


def test_buildinfo_gives_the_version_and_victoriametrics_gives_nothing():
    assert prom.buildinfo_from_response(body("prom_buildinfo"))["version"] \
        == INDEX["prom_buildinfo"]["version"]
    assert prom.buildinfo_from_response(body("vm_buildinfo")) == {}


def test_targets_give_health_last_error_and_last_scrape_per_target():
    frame = prom.targets_from_response(body("prom_targets"))
    assert list(frame.columns) == list(prom.TARGET_COLUMNS)
    assert frame["job"].tolist() == ["broken", "node", "prometheus"]
    assert frame["health"].tolist() == ["down", "up", "up"]
    assert "connection refused" in frame["last_error"].iloc[0]
    assert frame["last_error"].tolist()[1:] == ["", ""]
    assert str(frame["last_scrape"].dtype) == "datetime64[ns, UTC]"
    assert frame["last_scrape"].notna().all()
    assert all(u.startswith("http://127.0.0.1:") and u.endswith("/metrics")
               for u in frame["scrape_url"])
    assert (frame["instance"] == frame["scrape_url"].str[7:-8]).all()


def test_never_scraped_target_has_no_last_scrape():
    doc = orjson.loads(body("prom_targets"))
    doc["data"]["activeTargets"][0].update(lastScrape="0001-01-01T00:00:00Z", health="unknown")
    frame = prom.targets_from_response(doc)
    assert pd.isna(frame["last_scrape"].iloc[0]) and frame["health"].iloc[0] == "unknown"


def test_alerts_list_firing_before_pending_with_severity_summary_and_since():
    raw = orjson.loads(body("prom_alerts"))["data"]["alerts"]
    frame = prom.alerts_from_response(body("prom_alerts"))
    assert list(frame.columns) == list(prom.ALERT_COLUMNS)
    assert frame[["alertname", "state", "severity"]].values.tolist() == [
        ["DemoAlwaysFiring", "firing", "critical"], ["DemoSlowBurn", "pending", "warning"]]
    assert frame["summary"].tolist() == [a["annotations"]["summary"] for a in raw]
    assert frame["labels"].tolist() == ['{team="ops \\"core\\""}', "{}"]
    assert frame["value"].tolist() == [1.0, 2.0]
    assert frame["active_at"].tolist() == [pd.Timestamp(a["activeAt"]) for a in raw]
    assert str(frame["active_at"].dtype) == "datetime64[ns, UTC]"


# --- building requests ------------------------------------------------------------------------

def test_range_request_is_plain_form_fields():
    assert prom.build_range_request("up", 1700000000, 1700003600.5, 15, timeout=8) == {
        "query": "up", "start": "1700000000", "end": "1700003600.5", "step": "15",
        "timeout": "8s"}


def test_instant_request_leaves_time_to_the_server_unless_given():
    assert prom.build_instant_request("up") == {"query": "up"}
    assert prom.build_instant_request("up", 1.25, timeout=0.5) == {
        "query": "up", "time": "1.25", "timeout": "500ms"}


def test_server_gets_a_shorter_timeout_than_the_client():
    assert prom.server_timeout(10) == 8
    assert prom.server_timeout(1) < 1


@pytest.mark.parametrize("metric, name", [
    ({}, "{}"),
    ({"__name__": "up"}, "up"),
    ({"__name__": "up", "job": "a", "instance": "b"}, 'up{instance="b",job="a"}'),
    ({"path": 'a"b\\c\nd'}, '{path="a\\"b\\\\c\\nd"}'),
])
def test_series_name_reads_back_as_promql(metric, name):
    assert prom.series_name(metric) == name


def test_duplicate_series_names_are_made_unique():
    assert prom.unique_names(["a", "b", "a", "a"]) == ["a", "b", "a #2", "a #3"]


def test_value_spellings_outside_json_numbers_still_parse():
    assert prom.parse_values([".5", "1e3", "+Inf", "NaN"]).tolist()[:3] == [0.5, 1000.0, math.inf]


def test_a_label_named_like_a_core_column_gets_a_prefix():
    doc = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"value": "x", "series": "y"}, "value": [1, "2"]}]}}
    frame = prom.frame_from_response(doc)
    assert list(frame.columns) == [*CORE, "label_series", "label_value"]
    assert frame["value"].tolist() == [2.0]
