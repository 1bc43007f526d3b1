"""Loki framing on our Loki bodies (and real Loki's when present), requests, the client."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from config import Upstream
from datasources import prometheus
from datasources.cache import Cache
from datasources.errors import BadResponse, QueryError, Unreachable
from datasources.loki import Loki, build_query_range, volume_step
from datasources.loki_frame import (
    JSON_FIELDS,
    frame_from_response,
    index_volume_from_response,
    labels_from_response,
    series_from_response,
)
from query.levels import canonical_level
from query.logql import selector_of, stream_name, with_stream_matchers
from query.logql import volume_query as build_volume_query
from tests.loki_bodies import OWN

# The Loki double's fixtures (loki_double, make_loki_double).

DEMO_START = 1_714_564_800 * 10**9  # where tests/loki_fixtures.py's demo data set starts

METRIC_CORE = {"timestamp", "value", "series"}


def values(column) -> list:
    """A column's values with every missing marker as None."""
    return [None if pd.isna(v) else v for v in column]


def raw_entries(data: dict) -> list:
    """(ts string, line, stream labels, third element) of every entry, straight from JSON."""
    return [(v[0], v[1], s["stream"], v[2] if len(v) > 2 else None)
            for s in data["data"]["result"] for v in s["values"]]


# --- golden: streams -----------------------------------------------------------------------

def is_streams(body) -> bool:
    return body.facts["resultType"] == "streams"


@pytest.mark.loki_bodies(where=is_streams)
def test_stream_bodies_give_one_row_per_entry_with_exact_nanoseconds(loki_body):
    facts, data = loki_body.facts, loki_body.json()
    frame = frame_from_response(loki_body.raw)
    ns = frame["timestamp"].array.asi8
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert len(frame) == facts["entries"]
    assert frame["labels"].nunique() == facts["streams"]
    assert str(ns.min()) == facts["min_ts_ns"] and str(ns.max()) == facts["max_ts_ns"]
    assert frame["timestamp"].nunique() == facts["distinct_ts"]
    expected = sorted((int(t), line, stream_name(labels)) for t, line, labels, _ in
                      raw_entries(data))
    assert sorted(zip(ns.tolist(), frame["line"], frame["labels"], strict=True)) == expected
    assert len(frame.attrs["warnings"]) == facts["warnings"]


@pytest.mark.loki_bodies(where=is_streams)
def test_stream_bodies_give_a_column_per_label_and_metadata_key(loki_body):
    facts, data = loki_body.facts, loki_body.json()
    frame = frame_from_response(loki_body.raw)
    assert set(frame.attrs["stream_labels"]) == set(facts["label_keys"])
    for key in facts.get("structured_metadata_keys", []) + facts.get("parsed_keys", []):
        assert key in frame.columns
    duplicates = frame.groupby(["labels", "timestamp"], observed=True).size()
    assert int((duplicates - 1).sum()) == facts["duplicate_ts_within_stream"]
    by_entry = {(int(t), line): (labels, meta) for t, line, labels, meta in raw_entries(data)}
    for row in frame.itertuples(index=False):
        labels, meta = by_entry[(row.timestamp.value, row.line)]
        for key, value in labels.items():
            want = canonical_level(value) if key == "level" else value  # one scale
            assert frame.loc[frame["line"] == row.line, key].iloc[0] == want
        if meta and set(meta) <= {"structuredMetadata", "parsed"}:
            meta = {**meta.get("structuredMetadata", {}), **meta.get("parsed", {})}
        for key, value in (meta or {}).items():
            assert getattr(row, key) == (canonical_level(value) if key == "level" else value)


def test_sorted_by_time_and_levels_come_from_the_line_when_no_label_says(corpus):
    name, second_ns, levels = corpus.pick(
        own=("streams_quoted_labels.json", 1741944413250123456,
             ["warning", "unknown", "unknown", "error", "info", "debug"]),
        shared=("grafana_streams_simple.json", 1645030244810757120,
                ["info", "error", "info", "info", "info", "info"]))
    frame = frame_from_response(corpus.body(name))
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["timestamp"].iloc[1].value == second_ns
    assert list(frame["level"]) == levels


def test_unicode_and_quote_bearing_label_values_survive(corpus):
    name, by_label, stream = corpus.pick(
        own=("streams_quoted_labels.json",
             {"team": {'night "owls", ops', "day\\shift"}, "site": {"Zürich ☕"}},
             '{site="Zürich ☕", team="night \\"owls\\", ops"}'),
        shared=("grafana_streams_simple.json",
                {"code": {'one",', '",two'}, "location": {"moon🌙"}},
                '{code="\\",two", location="moon🌙"}'))
    frame = frame_from_response(corpus.body(name))
    for label, found in by_label.items():
        assert set(frame[label]) == found
    assert stream in set(frame["labels"])


def test_a_level_label_wins_over_the_line(corpus):
    name, levels, lines = corpus.pick(
        own=("streams_documented.json", ["warning"] * 3,
             ["invoice 4411 queued", "retrying invoice 4411 after error 503",
              "invoice 4411 sent"]),
        shared=("loki_docs_query_range_streams.json", ["info", "info"], ["bar", "foo"]))
    frame = frame_from_response(corpus.body(name))
    assert list(frame["level"]) == levels
    assert list(frame["line"]) == lines


def test_categorized_entries_keep_metadata_and_parsed_apart(corpus):
    name, stream_labels, metadata, parsed = corpus.pick(
        own=("streams_categorized.json", ["service"], ["pod", "trace_id"], ["order"]),
        shared=("loki_codec_streams_categorized.json", ["test"], ["x", "y"], ["z"]))
    frame = frame_from_response(corpus.body(name))
    assert frame.attrs["stream_labels"] == stream_labels
    assert frame.attrs["structured_metadata"] == metadata
    assert frame.attrs["parsed"] == parsed
    assert frame[parsed[0]].isna().tolist() == [True, True, False]


def test_flat_third_element_is_structured_metadata(corpus):
    name, key, later = corpus.pick(
        own=("streams_flat_metadata.json", "trace_id",
             ["e1bf0ad71e1e8f3a5f1ae7b8e0e4c1d9", "5b8aa5a2d2c872e8321cf37308d69df2"]),
        shared=("loki_codec_streams_flat_structured_metadata.json", "x", ["a", "a"]))
    frame = frame_from_response(corpus.body(name))
    assert frame[key].tolist()[1:] == later


def test_error_label_of_a_parser_is_a_column(corpus):
    name, error = corpus.pick(own=("streams_parse_errors.json", "JSONParserErr"),
                              shared=("grafana_streams_parse_errors.json", "LogfmtParserErr"))
    frame = frame_from_response(corpus.body(name))
    assert values(frame["__error__"]) == [error, None, None, error]


# --- golden: metric results, labels, series, volume, no data --------------------------------

def is_metric(body) -> bool:
    return body.facts["resultType"] in ("matrix", "vector")


def is_query_result(body) -> bool:
    return is_metric(body) or body.facts["resultType"] == "scalar"


def is_labels(body) -> bool:
    return body.facts["endpoint"] in ("labels", "label_values")


@pytest.mark.loki_bodies(where=is_metric)
def test_metric_bodies_give_the_long_prometheus_frame(loki_body):
    facts = loki_body.facts
    frame = frame_from_response(loki_body.raw)
    assert list(frame.columns[:3]) == ["timestamp", "value", "series"]
    assert frame["value"].dtype == np.float64
    assert len(frame) == facts["entries"]
    assert frame["series"].nunique() == facts["streams"]
    assert set(frame.columns) - METRIC_CORE == set(facts["label_keys"])
    assert int((~np.isfinite(frame["value"])).sum()) == facts["nonfinite_values"]
    assert len(frame.attrs["warnings"]) == facts["warnings"]
    if "min_ts_s" in facts:
        ns = frame["timestamp"].array.asi8
        assert ns.min() == int(Decimal(facts["min_ts_s"]) * 10**9)
        assert ns.max() == int(Decimal(facts["max_ts_s"]) * 10**9)
        per_series = frame.groupby(["series", "timestamp"], observed=True).size()
        assert int((per_series - 1).sum()) == facts["duplicate_ts_within_series"]


@pytest.mark.loki_bodies(where=is_query_result)
def test_metric_frames_are_exactly_the_prometheus_frames(loki_body):
    ours = frame_from_response(loki_body.raw)
    theirs = prometheus.frame_from_response(loki_body.raw, upstream="Loki")
    pd.testing.assert_frame_equal(ours, theirs)
    assert ours.attrs["warnings"] == theirs.attrs["warnings"]


def test_every_inf_spelling_and_nan_is_a_float(corpus):
    name, infinities, vector = corpus.pick(
        own=("matrix_inf_spellings.json", [np.inf, -np.inf] * 3, "vector_special.json"),
        shared=("grafana_matrix_inf.json", [np.inf, -np.inf] * 4,
                "grafana_vector_special_values.json"))
    values = frame_from_response(corpus.body(name))["value"].tolist()
    assert values == infinities
    special = frame_from_response(corpus.body(vector))["value"]
    assert special.iloc[0] == np.inf and special.iloc[1] == -np.inf and np.isnan(special.iloc[2])


def test_series_names_read_like_prometheus(corpus):
    named, series, no_labels, escaped, label, label_values = corpus.pick(
        own=("matrix_name.json", 'cart_lines{level="error"}', "matrix_gap.json",
             "vector_escaped.json", "path", ["/var/log/café.log", "/var/log/cart/app.log"]),
        shared=("grafana_matrix_name.json", 'moon{level="error"}', "grafana_matrix_nan.json",
                "loki_marshal_vector_warnings_stats.json", "filename",
                ["/var/hostlog/apport.log", "/var/hostlog/syslog"]))
    assert frame_from_response(corpus.body(named))["series"].iloc[0] == series
    assert frame_from_response(corpus.body(no_labels))["series"].iloc[0] == "{}"
    vector = frame_from_response(corpus.body(escaped))
    assert vector[label].tolist() == label_values


def test_scalar_is_one_row_without_labels(corpus):
    name, value, ns = corpus.pick(own=("scalar.json", 0.25, 1741944413125000000),
                                  shared=("loki_goldfish_scalar_stats.json", 0.003333333333,
                                          10**9))
    frame = frame_from_response(corpus.body(name))
    assert corpus.index()[name]["streams"] == 0
    assert list(frame.columns) == ["timestamp", "value", "series"]
    assert frame["value"].tolist() == [value]
    assert frame["timestamp"].iloc[0].value == ns


@pytest.mark.loki_bodies(where=is_labels)
def test_label_bodies_give_their_items(loki_body):
    assert len(labels_from_response(loki_body.raw)) == loki_body.facts["items"]
    with pytest.raises(BadResponse, match="list"):
        frame_from_response(loki_body.raw)


@pytest.mark.loki_bodies(where=lambda body: body.facts["endpoint"] == "series")
def test_series_bodies_give_label_sets(loki_body):
    series = series_from_response(loki_body.raw)
    assert len(series) == loki_body.facts["streams"]
    assert sorted({k for s in series for k in s}) == loki_body.facts["label_keys"]


def test_raw_index_volume_body(corpus):
    name, records = corpus.pick(
        own=("index_volume_raw.json", [{"name": '{service="cart"}', "volume": 52341},
                                       {"name": '{service="billing"}', "volume": 8120}]),
        shared=("loki_codec_volume.json", [{"name": '{foo="bar"}', "volume": 38}]))
    frame = index_volume_from_response(corpus.body(name))
    assert len(frame) == corpus.index()[name]["items"]
    assert frame.to_dict("records") == records


def test_documented_index_volume_body_is_the_metric_frame():
    frame = index_volume_from_response(OWN.body("index_volume.json"))
    assert list(frame.columns) == ["timestamp", "value", "series", "service"]
    assert frame.set_index("service")["value"].to_dict() == {"billing": 8120.0, "cart": 52341.0}
    assert (frame["timestamp"].array.asi8 == 1741944413 * 10**9).all()


def test_success_without_data_is_an_empty_frame_with_the_warning(corpus):
    name, warning = corpus.pick(
        own=("streams_warning_no_data.json",
             "only 2 of 3 ingesters answered; results may be incomplete"),
        shared=("grafana_warning_no_data.json",
                "Some logs may have been dropped by Adaptive Logs sampling"))
    frame = frame_from_response(corpus.body(name))
    assert len(frame) == 0 and list(frame.columns) == ["timestamp", "line", "labels", "level"]
    assert frame.attrs["warnings"] == [warning]


def test_empty_results_frame_to_zero_rows(corpus):
    matrix, vector = corpus.pick(own=("matrix_empty.json", "vector_empty.json"),
                                 shared=("loki_codec_matrix_empty.json",
                                         "loki_codec_vector_empty.json"))
    assert len(frame_from_response(corpus.body(matrix))) == 0
    assert len(frame_from_response(corpus.body(vector))) == 0
    assert len(frame_from_response({"status": "success", "data": {
        "resultType": "streams", "result": []}})) == 0


def test_bytes_and_parsed_dict_frame_the_same(corpus):
    raw = corpus.body(corpus.pick(own="streams_categorized.json",
                                  shared="loki_marshal_categorized_sm_parsed.json"))
    pd.testing.assert_frame_equal(frame_from_response(raw),
                                  frame_from_response(json.loads(raw)))


@pytest.mark.parametrize(("raw", "error", "text"), [
    (b'{"status":"error","errorType":"bad_data","error":"parse error at line 1, col 2"}',
     QueryError, "parse error at line 1, col 2"),
    (b'{"status":"success","data":', BadResponse, "not JSON"),
    (b"<html><body>502 Bad Gateway</body></html>", BadResponse, "502 Bad Gateway"),
    (b'["not", "an", "object"]', BadResponse, "not a JSON object"),
    (b'{"status":"success","data":{"resultType":"histogram","result":[]}}', BadResponse,
     "unknown resultType"),
    (b'{"status":"success","data":{"resultType":"streams","result":[{"stream":{},'
     b'"values":[["12x","line"]]}]}}', BadResponse, "malformed stream entry"),
])
def test_error_and_broken_bodies_raise_the_family(raw, error, text):
    with pytest.raises(error, match=text) as info:
        frame_from_response(raw)
    assert info.value.upstream == "Loki"


# --- JSON lines ---------------------------------------------------------------------------------

def streams_body(entries, stream=None):
    stream = stream or {"app": "api"}
    return {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": stream, "values": entries}]}}


def test_json_fields_become_columns_with_json_prefix_on_clashes():
    line = json.dumps({"timestamp": "2024-05-01T12:00:00Z", "level": "WARN", "logger": "api",
                       "message": "slow", "request_id": "r1", "user_id": 7, "trace_id": "t",
                       "span_id": "s", "other": "x"})
    frame = frame_from_response(streams_body([["1", line], ["2", "plain text"]],
                                             {"app": "api", "logger": "promtail"}))
    assert frame.attrs["fields"] == ["json_timestamp", "json_level", "json_logger", "message",
                                     "request_id", "user_id", "trace_id", "span_id"]
    assert values(frame["json_logger"]) == ["api", None]
    assert frame["logger"].tolist() == ["promtail", "promtail"]
    assert values(frame["user_id"]) == ["7", None]
    assert frame["level"].tolist() == ["warning", "unknown"]
    assert "other" not in frame.columns and set(JSON_FIELDS) - {"timestamp", "level",
                                                                "logger"} <= set(frame.columns)


def test_level_precedence_label_then_detected_then_json_then_line():
    entries = [["1", '{"level":"debug"}', {"structuredMetadata": {"detected_level": "warn"}}],
               ["2", '{"level":"debug"}', {}],
               ["3", "ERROR something broke", {}],
               ["4", "nothing to see", {}]]
    data = streams_body(entries)
    data["data"]["encodingFlags"] = ["categorize-labels"]
    assert frame_from_response(data)["level"].tolist() == ["warning", "debug", "error",
                                                           "unknown"]
    data["data"]["result"][0]["stream"]["level"] = "critical"
    assert frame_from_response(data)["level"].tolist() == ["critical"] * 4


def test_a_parsed_json_field_is_not_repeated():
    entries = [["1", '{"message":"hi"}', {"parsed": {"message": "hi"}}]]
    frame = frame_from_response({"status": "success", "data": {
        "resultType": "streams", "encodingFlags": ["categorize-labels"],
        "result": [{"stream": {"app": "a"}, "values": entries}]}})
    assert frame.attrs["parsed"] == ["message"] and frame.attrs["fields"] == []


def test_labels_named_like_core_columns_are_prefixed():
    frame = frame_from_response(streams_body([["1", "x"]], {"line": "7", "timestamp": "t"}))
    assert frame["label_line"].tolist() == ["7"] and frame["line"].tolist() == ["x"]
    assert frame.attrs["stream_labels"] == ["label_line", "label_timestamp"]


@pytest.mark.parametrize(("raw", "level"), [("WARN", "warning"), ("Warning", "warning"),
                                            ("err", "error"), ("FATAL", "critical"),
                                            ("notice", "info"), ("", "unknown"),
                                            (None, "unknown"), ("chatty", "unknown")])
def test_canonical_levels(raw, level):
    assert canonical_level(raw) == level


# --- building -----------------------------------------------------------------------------------

def test_query_range_params_are_integer_nanoseconds():
    params = build_query_range('{app="api"}', 1714564800123456789, 1714568400000000000, 500,
                               "forward", step=15)
    assert params == {"query": '{app="api"}', "start": "1714564800123456789",
                      "end": "1714568400000000000", "limit": "500", "direction": "forward",
                      "step": "15s"}
    with pytest.raises(ValueError, match="direction"):
        build_query_range("{a=\"b\"}", 0, 1, 1, "sideways")


def test_volume_query_keeps_the_pipeline_and_groups_by_level():
    assert build_volume_query(' {app="api"} |= "x" | json ', 60) == (
        'sum by (level, detected_level) (count_over_time({app="api"} |= "x" | json [1m]))')
    assert volume_step(0, 86_400 * 10**9, 1) == pytest.approx(86_400 / 11_000)


def test_selector_is_found_past_braces_inside_strings():
    query = '{app="a}b", env=`x}`} |= "{not}" | json'
    assert selector_of(query) == '{app="a}b", env=`x}`}'
    narrowed = with_stream_matchers(query, {"app": "a}b", "pod": 'p"1'}, absent={"zone"})
    assert narrowed == ('{app="a}b", env=`x}`, app="a}b", pod="p\\"1", zone=""} |= "{not}" '
                        '| json')
    with pytest.raises(ValueError, match="not a log query"):
        selector_of("sum(rate(x[5m]))")


# --- the datasource over HTTP (the double) -------------------------------------------------------

def make_loki(url, tmp_path, **upstream):
    up = Upstream("Loki", url, 5.0, 30.0, **upstream)
    return Loki(up, Cache(tmp_path / "cache"))


def test_query_range_sends_the_encoding_flag_tenant_and_returns_newest_first(
        loki_double, tmp_path):
    loki = make_loki(loki_double.url, tmp_path, tenant="team-a")
    result = loki.query_range('{app="api"} | json', DEMO_START, DEMO_START + 60 * 10**9,
                              limit=5)
    assert result.ok and result.value.attrs["truncated"]
    assert result.value["timestamp"].is_monotonic_decreasing and len(result.value) == 5
    assert result.value.attrs["structured_metadata"] == ["trace_id"]
    sent = loki_double.requests[-1]
    assert sent["headers"]["X-Loki-Response-Encoding-Flags"] == "categorize-labels"
    assert sent["headers"]["X-Scope-OrgID"] == "team-a"
    assert sent["params"]["limit"] == "5" and sent["params"]["direction"] == "backward"


def test_query_range_is_cached(loki_double, tmp_path):
    loki = make_loki(loki_double.url, tmp_path)
    first = loki.query_range('{app="worker"}', DEMO_START, DEMO_START + 10**10, limit=3)
    asked = len(loki_double.requests)
    again = loki.query_range('{app="worker"}', DEMO_START, DEMO_START + 10**10, limit=3)
    assert len(loki_double.requests) == asked and again.fetched_at == first.fetched_at


def test_volume_counts_every_matching_entry_over_the_whole_range(loki_double, tmp_path):
    loki = make_loki(loki_double.url, tmp_path)
    result = loki.volume('{app="api"} | json', DEMO_START, DEMO_START + 60 * 10**9, 10)
    assert result.ok
    frame = result.value
    assert frame.attrs["total"] == 61  # 60 JSON lines and the shared plain line
    totals = frame.groupby("level", observed=True)["value"].sum().to_dict()
    assert totals == {"error": 20, "warning": 20, "info": 20, "unknown": 1}
    assert frame["timestamp"].min().value == DEMO_START
    assert "count_over_time" in loki_double.requests[-1]["params"]["query"]


def test_volume_of_a_metric_query_is_an_error_not_a_call(loki_double, tmp_path):
    result = make_loki(loki_double.url, tmp_path).volume("sum(rate({a=\"b\"}[1m]))", 0, 10**9, 1)
    assert isinstance(result.error, QueryError)


def test_label_browser_names_and_values(loki_double, tmp_path):
    loki = make_loki(loki_double.url, tmp_path)
    assert loki.label_names(DEMO_START, DEMO_START + 10**11).value == ["app", "env"]
    assert loki.label_values("app", DEMO_START, DEMO_START + 10**11).value == ["api", "worker"]
    assert loki.label_values("app", DEMO_START, DEMO_START + 10**11,
                             query='{app="api"}').value == ["api"]


def test_health_checks_ready_and_a_known_answer(loki_double, tmp_path, closed_port):
    assert make_loki(loki_double.url, tmp_path).health().value is True
    down = make_loki(f"http://127.0.0.1:{closed_port}", tmp_path / "down").health()
    assert isinstance(down.error, Unreachable) and "refused" in down.error.message


@pytest.mark.loki_bodies(where=lambda body: body.facts["endpoint"] == "error")
def test_error_bodies_reach_the_panel_with_their_text_intact(loki_body, make_loki_double,
                                                             tmp_path):
    facts, text = loki_body.facts, loki_body.raw.decode()
    double = make_loki_double()
    double.respond_next(facts["http_status"], text, facts["content_type"])
    result = make_loki(double.url, tmp_path).query_range('{a="b"}', 0, 10**9)
    assert result.value is None
    if facts["http_status"] == 400:
        assert isinstance(result.error, QueryError) and result.error.message == text
    else:
        assert isinstance(result.error, Unreachable) and text in result.error.message
        assert result.error.status == facts["http_status"]


def test_a_query_error_is_not_hidden_behind_stale_data(make_loki_double, tmp_path):
    double = make_loki_double([(DEMO_START, {"app": "a"}, "hello")])
    loki = make_loki(double.url, tmp_path)
    assert loki.query_range('{app="a"}', DEMO_START, DEMO_START + 1).ok
    bad = loki.query_range('{app="a}', DEMO_START, DEMO_START + 1)
    assert bad.error.message == "parse error at line 1, col 6: literal not terminated"
    assert not bad.stale and bad.value is None


def test_unreachable_loki_serves_the_last_frame_stale(make_loki_double, tmp_path):
    double = make_loki_double([(DEMO_START, {"app": "a"}, "hello")])
    loki = make_loki(double.url, tmp_path)
    good = loki.query_range('{app="a"}', DEMO_START, DEMO_START + 1)
    double.respond_next(502, "bad gateway")
    stale = loki.query_range('{app="a"}', DEMO_START, DEMO_START + 1, force=True)
    assert stale.stale and stale.value["line"].tolist() == ["hello"]
    assert stale.fetched_at == good.fetched_at and "bad gateway" in stale.stale_badge()


def test_warnings_reach_the_frame(make_loki_double, tmp_path):
    double = make_loki_double([(DEMO_START, {"app": "a"}, "hello")])
    double.warnings = ["query was sampled"]
    frame = make_loki(double.url, tmp_path).query_range('{app="a"}', DEMO_START,
                                                        DEMO_START + 1).value
    assert frame.attrs["warnings"] == ["query was sampled"]


def test_duplicate_stream_name_counter_is_per_label_set():
    # Two streams with the same line at one instant are two rows (not one) in a frame.
    data = {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"app": "a"}, "values": [["5", "same"]]},
        {"stream": {"app": "b"}, "values": [["5", "same"]]}]}}
    frame = frame_from_response(data)
    assert Counter(frame["labels"]) == {'{app="a"}': 1, '{app="b"}': 1}


def test_a_json_timeout_error_is_an_outage_not_a_bad_query():
    body = b'{"status":"error","errorType":"timeout","error":"query timed out"}'
    with pytest.raises(Unreachable, match="query timed out"):
        frame_from_response(body)
    bad = b'{"status":"error","errorType":"bad_data","error":"parse error at line 1, col 2"}'
    with pytest.raises(QueryError, match="parse error at line 1, col 2"):
        frame_from_response(bad)


def test_every_spelling_of_a_level_becomes_one_level_in_the_frame():
    spellings = ["warn", "WARNING", "wrn", "err", "crit", "fatal", "dbg", "trace"]
    entries = [[str(i + 1), json.dumps({"level": s, "message": "m"})]
               for i, s in enumerate(spellings)]
    frame = frame_from_response(streams_body(entries))
    assert frame["level"].tolist() == ["warning"] * 3 + ["error", "critical", "critical",
                                                         "debug", "trace"]
    assert frame["json_level"].tolist() == spellings  # the raw word is kept beside it


def test_volume_reads_levels_from_json_lines_when_no_level_label_says(make_loki_double,
                                                                       tmp_path):
    # An older Loki: no level label on the streams, no detected_level.
    api, proxy = {"job": "api"}, {"job": "nginx"}
    levels = ["warn", "WARNING", "err", "info", "dbg"]
    entries = [(DEMO_START + i * 10**9 + 1, api, json.dumps({"level": levels[i % 5], "n": i}))
               for i in range(50)]
    entries += [(DEMO_START + i * 10**9 + 5, proxy, f'"GET / HTTP/1.1" 200 {i}')
                for i in range(20)]
    double = make_loki_double(entries)
    loki = make_loki(double.url, tmp_path)
    result = loki.volume('{job=~".+"}', DEMO_START, DEMO_START + 60 * 10**9, 10)
    assert result.ok
    totals = result.value.groupby("level", observed=True)["value"].sum().to_dict()
    assert totals == {"error": 10, "warning": 20, "info": 10, "debug": 10, "unknown": 20}
    assert result.value.attrs["total"] == 70
    asked = [r["params"]["query"] for r in double.requests]
    assert asked[-1].endswith('| json | __error__="" [10s]))')
    # the table's levels for the same lines agree bucket by bucket's sum
    table = loki.query_range('{job=~".+"}', DEMO_START, DEMO_START + 60 * 10**9, limit=100)
    assert table.value["level"].value_counts().to_dict() == totals


def test_a_level_label_needs_no_second_volume_query(make_loki_double, tmp_path):
    double = make_loki_double([(DEMO_START + i + 1, {"job": "api", "level": "warn"}, "x")
                               for i in range(5)])
    result = make_loki(double.url, tmp_path).volume('{job="api"}', DEMO_START,
                                                    DEMO_START + 60 * 10**9, 10)
    assert result.value.groupby("level", observed=True)["value"].sum().to_dict() == {
        "warning": 5}
    assert len(double.requests) == 1


def test_a_volume_loki_refuses_for_unparsed_lines_counts_the_parsed_ones_and_says_so(
        make_loki_double, tmp_path):
    # `| json` over JSON and NGINX lines: Loki answers "pipeline error" for the count.
    entries = [(DEMO_START + i * 10**9 + 1, {"job": "api"}, json.dumps({"level": "warn"}))
               for i in range(10)]
    entries += [(DEMO_START + i * 10**9 + 2, {"job": "nginx"}, '"GET / HTTP/1.1" 200 1')
                for i in range(4)]
    double = make_loki_double(entries, pipeline_errors=True)
    result = make_loki(double.url, tmp_path).volume('{job=~".+"} | json', DEMO_START,
                                                    DEMO_START + 60 * 10**9, 10)
    assert result.ok, result.error
    assert result.value.groupby("level", observed=True)["value"].sum().to_dict() == {
        "warning": 10}
    assert "could not read" in result.value.attrs["note"]
    assert [r["params"]["query"].endswith('| json | __error__="" [10s]))')
            for r in double.requests] == [False, True]
