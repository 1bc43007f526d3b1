"""Strict parsers: every body that is not what the API promises is BadResponse naming the field.

One minimal body per kind of escape the long fuzz found before the parsers were made strict
(``python -m tests.fuzz_bodies``), the silent wrong answers of issue 9, and a bounded,
derandomized Hypothesis run of mutated real bodies through every parser.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import Phase, given, settings

import app
from datasources import prometheus as prom
from datasources.errors import BadResponse, DatasourceError, QueryError, Unreachable
from tests.fuzz_bodies import FUZZ_SETTINGS, PARSERS, bodies, escapes

OK = '{"status":"success","data":%s}'


def query(result_type: str, result: str) -> bytes:
    """A success body of a query with this resultType and result (JSON text)."""
    return (OK % f'{{"resultType":"{result_type}","result":{result}}}').encode()


def streams(values: str, stream: str = '{"app":"a"}', flags: str = "") -> bytes:
    """A one-stream Loki log body; ``flags`` is an encodingFlags list (JSON) or nothing."""
    extra = f',"encodingFlags":{flags}' if flags else ""
    return (OK % f'{{"resultType":"streams","result":[{{"stream":{stream},"values":{values}}}]'
                 f'{extra}}}').encode()


def vector(metric: str = "{}", value: str = '[1700000000,"1"]') -> bytes:
    return query("vector", f'[{{"metric":{metric},"value":{value}}}]')


def matrix(values: str, metric: str = '{"job":"a"}') -> bytes:
    return query("matrix", f'[{{"metric":{metric},"values":{values}}}]')


PROM_ALERT = ('{"labels":{"alertname":"A"},"annotations":{},"state":"firing",'
              '"activeAt":%s,"value":"1e+00"}')
AM_ALERT = '[{"labels":{"alertname":"A"},"status":{"state":"active"},"startsAt":%s}]'
TARGET = ('{"labels":{"job":"a","instance":"b"},"health":"up","lastError":"",'
          '"lastScrape":"2024-05-01T12:00:00Z","scrapeUrl":"http://b/metrics",'
          '"lastScrapeDuration":%s}')
DEEP = "[" * 1000 + "]" * 1000

# --- one minimal case per kind the fuzz found ------------------------------------------------
# (parser as named in tests/fuzz_bodies.PARSERS, body, what the message must name); the
# comment says what each raised before.

KINDS = [
    # AttributeError in streams_frame: a streams result that is not a list
    ("loki.frame_from_response", OK % '{"resultType":"streams","result":"x"}',
     "streams' result is a string"),
    # TypeError in streams_frame: the same with a number
    ("loki.frame_from_response", OK % '{"resultType":"streams","result":1}',
     "streams' result is a number"),
    # AttributeError in _label_columns: stream labels that are a string
    ("loki.frame_from_response", streams("[]", stream='"x"'), "stream 0: labels is a string"),
    # TypeError in _label_columns: stream labels that are true
    ("loki.frame_from_response", streams("[]", stream="true"), "labels is true/false"),
    # TypeError in _assemble: a stream label value that is a list
    ("loki.frame_from_response", streams('[["1","l"]]', stream='{"a":[]}'),
     "labels is an object"),
    # NotImplementedError in _assemble: a stream label value that is a non-empty list
    ("loki.frame_from_response", streams('[["1","l"]]', stream='{"a":["b"]}'),
     "labels is an object"),
    # TypeError in _label_columns: stream labels of mixed types (a string and false)
    ("loki.frame_from_response",
     OK % '{"resultType":"streams","result":[{"stream":{"a":"x"},"values":[]},'
          '{"stream":{"a":false},"values":[]}]}', "stream 1: labels"),
    # OverflowError in streams_frame: a 25-digit nanosecond timestamp
    ("loki.frame_from_response", streams(f'[["{"1" * 25}","l"]]'), "not nanoseconds"),
    # TypeError in streams_frame: values that are a number
    ("loki.frame_from_response", streams("-1e19"), "stream 0: values is a number"),
    # AttributeError in json_fields: a log line that is a number (or true)
    ("loki.frame_from_response", streams('[["1",5]]'), "a line is a number"),
    ("loki.frame_from_response", streams('[["1",true]]'), "a line is true/false"),
    # AttributeError in _entry_metadata: categorized metadata that is a string
    ("loki.frame_from_response", streams('[["1","l","x"]]', flags='["categorize-labels"]'),
     "metadata is a string"),
    # AttributeError in _entry_metadata: structuredMetadata that is a string
    ("loki.frame_from_response",
     streams('[["1","l",{"structuredMetadata":"x"}]]', flags='["categorize-labels"]'),
     "metadata is a string"),
    # AttributeError in _looks_categorized: flat metadata that is a string
    ("loki.frame_from_response", streams('[["1","l","x"]]'), "metadata is a string"),
    # TypeError in _frame_for: encodingFlags that are a number
    ("loki.frame_from_response", streams("[]", flags="5"), "encodingFlags is a number"),
    # TypeError in frame_from_response (Loki): warnings that are a number
    ("loki.frame_from_response", '{"status":"success","warnings":5}', "warnings is a number"),
    # TypeError in error_from_body: an errorType that is a list (every parser)
    ("prometheus.frame_from_response", '{"status":"error","errorType":["timeout"]}',
     "'errorType' is a list"),
    ("loki.labels_from_response", '{"status":"error","errorType":["timeout"]}',
     "'errorType' is a list"),
    ("prometheus.targets_from_response", '{"status":"error","error":{"a":1}}',
     "'error' is an object"),
    # AttributeError in series_name: "metric":5 (and true)
    ("prometheus.frame_from_response", vector(metric="5"), "metric is a number"),
    ("prometheus.health_from_response", vector(metric="true"), "metric is true/false"),
    # (accepted as "{}") a metric that is an empty string; a series without samples
    ("prometheus.frame_from_response", vector(metric='""'), "metric is a string"),
    ("prometheus.frame_from_response", query("vector", '[{"metric":{}}]'), "has no 'value'"),
    # TypeError in label_columns: a label value that is a list
    ("prometheus.frame_from_response", vector(metric='{"k":[]}'), "metric is an object"),
    # TypeError in label_columns: labels of mixed types (a string and true)
    ("prometheus.frame_from_response",
     query("vector", '[{"metric":{"k":"a"},"value":[1,"1"]},{"metric":{"k":true},'
                     '"value":[1,"2"]}]'), "series 1: metric"),
    # TypeError in _flatten: matrix values that are a number
    ("prometheus.frame_from_response", matrix("-19272"), "series 0: values is a number"),
    # TypeError in _flatten: a vector value that is a number, not a pair
    ("prometheus.frame_from_response", vector(value="2.5e16"), "pairs"),
    # TypeError in _notes: warnings or infos that are true
    ("prometheus.frame_from_response", vector()[:-1] + b',"warnings":true}', "warnings"),
    ("prometheus.frame_from_response", vector()[:-1] + b',"infos":true}', "infos"),
    # RuntimeWarning (invalid cast) in utc_timestamps: a null timestamp read as 1970
    ("prometheus.frame_from_response", query("scalar", '[null,"2"]'),
     "sample timestamp is null"),
    # TypeError in volume_frame, NaT in the frame: a timestamp that is a list
    ("loki.volume_from_response", query("scalar", '[[1714564800.0],"2"]'),
     "sample timestamp is a list"),
    # KeyError 'value' in volume_frame: Loki volume() given a log answer or no data
    ("loki.volume_from_response", '{"status":"success"}', "no 'data'"),
    ("loki.volume_from_response", streams('[["1","l"]]'), "streams result, not a matrix"),
    # OverflowError / ValueError in volume_frame: counts of +Inf and NaN
    ("loki.volume_from_response", matrix('[[1,"+Inf"]]'), "volume count is inf"),
    ("loki.volume_from_response", matrix('[[1,"NaN"]]'), "volume count is nan"),
    # RuntimeWarning in groupby (reduceat): +Inf and -Inf in one bucket
    ("loki.volume_from_response",
     query("matrix", '[{"metric":{},"values":[[1,"+Inf"]]},{"metric":{"a":"b"},'
                     '"values":[[1,"-Inf"]]}]'), "volume count is inf"),
    # ValueError in export_frame ("only log queries can be exported"): a log query answered
    # with a matrix must be BadResponse, not an argument error
    ("loki.log_page", query("matrix", "[]"), "matrix result, not log streams"),
    # KeyError / TypeError / ValueError / OverflowError in index_volume_from_response
    ("loki.index_volume_from_response", '{"volumes":[{"volume":61}]}',
     "volume 0 has no 'name'"),
    ("loki.index_volume_from_response", '{"volumes":[{"name":"a"}]}', "'volume' is null"),
    ("loki.index_volume_from_response", '{"volumes":[null]}', "volume 0 is null"),
    ("loki.index_volume_from_response", '{"volumes":[{"name":"a","volume":{}}]}',
     "'volume' is an object"),
    ("loki.index_volume_from_response", '{"volumes":[{"name":"a","volume":[]}]}',
     "'volume' is a list"),
    ("loki.index_volume_from_response", '{"volumes":[{"name":"a","volume":-2.3e209}]}',
     "'volume' is a number"),
    # OutOfBoundsDatetime / ValueError in utc_times: times pandas cannot read or hold
    ("prometheus.alerts_from_response",
     OK % ('{"alerts":[' + PROM_ALERT % '"-2026-11-22T12:58:49Z"' + "]}"),
     "an RFC 3339 time"),
    ("prometheus.alerts_from_response",
     OK % ('{"alerts":[' + PROM_ALERT % '"9999-12-31T23:59:59Z"' + "]}"),
     "pandas cannot hold"),
    ("alertmanager.alerts_from_response", AM_ALERT % '"errorType"', "an RFC 3339 time"),
    # TypeError in alert_frame: an alert state that is a list, a label that is an object
    ("prometheus.alerts_from_response",
     OK % '{"alerts":[{"labels":{"alertname":"A"},"state":["firing"]}]}',
     "'state' is a list"),
    ("alertmanager.alerts_from_response",
     '[{"labels":{"alertname":{}},"status":{"state":"active"}}]', "labels is an object"),
    # ValueError in _target_row: a scrape duration that is text
    ("prometheus.targets_from_response", OK % ('{"activeTargets":[' + TARGET % '"x"' + "]}"),
     "'lastScrapeDuration' is a string"),
    # RecursionError: 1 000-deep nesting, shown in a message through repr
    ("loki.frame_from_response", DEEP, "nested too deep to show"),
    ("prometheus.frame_from_response", OK % f'{{"resultType":{DEEP}}}', "nested too deep"),
    ("loki.frame_from_response", "[" * 1100 + "]" * 1100, "not JSON"),
]


@pytest.mark.parametrize(("parser", "body", "message"), KINDS,
                         ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(KINDS)])
def test_each_kind_the_fuzz_found_is_a_bad_response_naming_the_field(parser, body, message):
    raw = body if isinstance(body, bytes) else body.encode()
    with pytest.raises(BadResponse, match=message.replace("(", r"\(")) as info:
        PARSERS[parser](raw)
    assert info.value.upstream in ("Prometheus", "Loki", "Alertmanager")


def test_error_readers_keep_the_upstreams_words_when_the_error_body_is_misshapen():
    misshapen = b'{"status":"error","errorType":["x"],"error":"boom"}'
    for name in ("prometheus.read_error", "alertmanager.read_error", "loki.read_error"):
        error_type, text = PARSERS[name](misshapen)
        assert error_type is None and "boom" in text, name
        for body in (DEEP.encode(), b'{"error":' + DEEP.encode() + b"}"):
            assert PARSERS[name](body) == (None, body.decode()[:2000]), name


# --- sample values: what Go's strconv.ParseFloat reads, nothing else -------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("1.5", 1.5), ("-0.25", -0.25), ("1e-07", 1e-07), ("1e+21", 1e21), ("44580", 44580.0),
    ("+Inf", math.inf), ("-Inf", -math.inf), (".5", 0.5), ("5.", 5.0), ("+1", 1.0),
    ("1E3", 1000.0), ("inf", math.inf), ("Infinity", math.inf), ("01", 1.0),
])
def test_values_go_reads_are_read_alike_on_both_paths(text, value):
    for body in (vector(value=f'[1700000000,"{text}"]'), matrix(f'[[1700000000,"{text}"]]')):
        assert prom.frame_from_response(body)["value"].tolist() == [value]
    nan = prom.frame_from_response(matrix('[[1700000000,"NaN"]]'))["value"]
    assert math.isnan(nan.iloc[0])


@pytest.mark.parametrize("text", [
    '"null"', '"true"', '"false"', "true", "null", "7", '"\\"7\\""', '"1_000"', '" 1"', '"1 "',
    '"[1]"', '"0x10"', '""', '"1e400"', '"nan1"', '"Inf1"', '"１"', '"1,5"',
])
def test_values_go_does_not_read_are_bad_responses_on_both_paths(text):
    for body in (vector(value=f"[1700000000,{text}]"), matrix(f"[[1700000000,{text}]]"),
                 matrix(f'[[1700000000,"1"],[1700000060,{text}]]')):
        with pytest.raises(BadResponse, match="value"):
            prom.frame_from_response(body)


def test_alert_values_follow_the_same_rule():
    doc = {"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "A"}, "state": "firing", "value": "1_000"}]}}
    with pytest.raises(BadResponse, match="'1_000' is not a number"):
        prom.alerts_from_response(doc)


# --- timestamps: numbers inside pandas' range ---------------------------------------------------

@pytest.mark.parametrize("stamp", ["true", "null", '"1700000000"', "1e19", "-1e19",
                                   "1" * 25, "9223372037", "1e308", "[1]", "{}"])
def test_timestamps_that_are_not_seconds_pandas_holds_are_bad_responses(stamp):
    for body in (vector(value=f'[{stamp},"1"]'), matrix(f'[[{stamp},"1"]]'),
                 query("scalar", f'[{stamp},"1"]')):
        with pytest.raises(BadResponse, match="timestamp"):
            prom.frame_from_response(body)


def test_the_last_millisecond_pandas_holds_is_read_exactly():
    frame = prom.frame_from_response(matrix('[[9223372036.854,"1"],[-9223372036.854,"2"]]'))
    assert frame["timestamp"].tolist() == [pd.Timestamp(9_223_372_036_854_000_000, tz="UTC"),
                                           pd.Timestamp(-9_223_372_036_854_000_000, tz="UTC")]


@pytest.mark.parametrize("stamp", ['"12x"', '" 12"', '"+12"', '"1_000"', '"١٢"', '""', "12",
                                   '"9223372036854775808"', '"' + "1" * 25 + '"', "null"])
def test_loki_entry_timestamps_are_nanosecond_digit_strings_in_range(stamp):
    with pytest.raises(BadResponse, match="malformed stream entry"):
        PARSERS["loki.frame_from_response"](streams(f'[[{stamp},"line"]]'))


def test_the_last_nanosecond_pandas_holds_is_a_valid_loki_timestamp():
    frame = PARSERS["loki.frame_from_response"](streams('[["9223372036854775807","last"]]'))
    assert frame["timestamp"].iloc[0] == pd.Timestamp(2**63 - 1, tz="UTC")


# --- the fast matrix path: corrupt JSON in a values run is never read as numbers ---------------

@pytest.mark.parametrize("run", [
    '[[1,1]]', '[[1, "1"x]]', '[[1,"1",2]]', '[[01,"1"]]', '[[1,"true"]]',
    '[[1,""]]', '[["1","1"]]', '[[1,"1"],[2,"2"],3,"3"]]', '[[1,"1"][2,"2"]]', '[[.5,"1"]]',
    '[[1.,"1"]]', '[[1,"1e400"]]', '[[1,"NaNa"]]', '[[1,"+Infinity"],[2,"x"]]', '[[-,"1"]]',
    '[[1,"1"],,[2,"2"]]', '[[1,"1"]x]', '[1,"1"]]',
])
def test_a_corrupt_values_run_never_takes_the_fast_path(run):
    body = matrix(run)
    assert prom._matrix_fast(body, "Prometheus") is None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    with pytest.raises(BadResponse):
        prom.frame_from_response(body)
    if doc is not None:  # valid JSON: the plain path says the same
        with pytest.raises(BadResponse):
            prom.frame_from_response(doc)


@pytest.mark.parametrize("run", ['[[1e9,"1"]]', '[[-5,"1"]]', '[[1,"nan"]]', '[[1,"1E5"]]',
                                 '[[1, "1"]]', '[[1,"1" ]]'])
def test_valid_json_the_fast_path_leaves_alone_still_frames_exactly(run):
    body = matrix(run)
    pd.testing.assert_frame_equal(prom.frame_from_response(body),
                                  prom.frame_from_response(orjson.loads(body)))


@pytest.mark.parametrize("run", ['[[1,1]]', '[[1,"true"]]', '[[1,"1e400"]]', '[[01,"1"]]'])
def test_a_corrupt_run_in_a_later_chunk_still_sends_the_body_to_the_plain_path(run):
    good = '{"metric":{"job":"a"},"values":[[1,"1"],[2,"2"]]}'
    body = query("matrix", f'[{good},{good},{{"metric":{{"job":"b"}},"values":{run}}}]')
    assert prom._matrix_fast(body, "Prometheus", chunk_bytes=1) is None
    with pytest.raises(BadResponse):
        prom.frame_from_response(body)


def test_the_fast_path_still_takes_compact_special_values():
    body = matrix('[[1,"NaN"],[2,"+Inf"],[3,"-Inf"],[4,"1.5e-07"],[5,"-2"],[1700000000.123,"0"]]')
    assert prom._matrix_fast(body, "Prometheus") is not None
    values = prom.frame_from_response(body)["value"].to_numpy()
    assert np.isnan(values[0]) and values[1:].tolist() == [math.inf, -math.inf, 1.5e-07, -2, 0]


# --- wrong-shaped success bodies are errors, never an empty all-clear ------------------------

@pytest.mark.parametrize(("parser", "body", "message"), [
    ("prometheus.targets_from_response", OK % "{}", "no 'activeTargets'"),
    ("prometheus.targets_from_response", OK % '{"activeTargets":null}', "activeTargets is null"),
    ("prometheus.targets_from_response", OK % "[]", "targets data is a list"),
    ("prometheus.alerts_from_response", OK % '{"alerts":5}', "alerts is a number"),
    ("prometheus.alerts_from_response", OK % "{}", "no 'alerts'"),
    ("prometheus.alerts_from_response", OK % "null", "alerts data is null"),
    ("alertmanager.alerts_from_response", '{"alerts":[]}', "alerts answer is an object"),
    ("loki.frame_from_response", OK % '{"resultType":"streams"}', "streams' result is null"),
    ("loki.frame_from_response", OK % "{}", "no resultType"),
    ("loki.frame_from_response", OK % "null", "'data'.* is null"),
    ("loki.frame_from_response", '{"status":"success"}', "no 'data'"),
    ("loki.frame_from_response", streams("null"), "values is null"),
    ("loki.series_from_response", '{"status":"success"}', "no 'data'"),
    ("loki.series_from_response", OK % '[{"a":1}]', "label set 0"),
    ("loki.labels_from_response", OK % '["a",1]', "not a list of strings"),
    ("prometheus.frame_from_response", OK % '{"resultType":"matrix"}', "result is null"),
    ("prometheus.frame_from_response", query("matrix", '[{"metric":{}}]'), "has no 'values'"),
    ("prometheus.frame_from_response", query("vector", '[{"value":[1,"1"]}]'), "metric is null"),
    ("prometheus.buildinfo_from_response", OK % '{"version":["2"]}', "buildinfo is an object"),
])
def test_wrong_shaped_success_bodies_are_bad_responses(parser, body, message):
    with pytest.raises(BadResponse, match=message):
        PARSERS[parser](body if isinstance(body, bytes) else body.encode())


def test_success_with_warnings_and_no_data_is_still_an_empty_page():
    frame = PARSERS["loki.frame_from_response"](b'{"status":"success","warnings":["sampled"]}')
    assert len(frame) == 0 and frame.attrs["warnings"] == ["sampled"]


def test_loki_leaves_out_data_when_no_label_matched():
    assert PARSERS["loki.labels_from_response"](b'{"status":"success"}') == []


def test_error_status_bodies_keep_their_family_member():
    with pytest.raises(Unreachable):
        prom.frame_from_response(b'{"status":"error","errorType":"timeout","error":"slow"}')
    with pytest.raises(QueryError, match="no error text"):
        prom.frame_from_response(b'{"status":"error","errorType":"bad_data"}')


@pytest.mark.parametrize(("body", "message"), [
    ('{"status":"success","data":{}}', "no resultType"),
    ('{"status":"success","data":{"resultType":"streams"}}', "result is null"),
    ('{"status":"success","data":{"resultType":"matrix","result":[]}}', "not log streams"),
])
def test_an_export_of_a_wrong_shaped_answer_fails_instead_of_exporting_nothing(
        tmp_path, make_loki_double, capsys, body, message):
    double = make_loki_double([(1_714_564_800 * 10**9 + 1, {"job": "a"}, "x")])
    double.respond_next(200, body, "application/json", path="/loki/api/v1/query_range")
    config = tmp_path / "stackscope.toml"
    config.write_text(f'[loki]\nurl = "{double.url}"\n[cache]\ndir = "{tmp_path / "c"}"\n')
    out = tmp_path / "out.csv"
    code = app.main(["export-logs", "--config", str(config), "--query", '{job="a"}',
                     "--start", "2024-05-01T12:00:00Z", "--end", "2024-05-01T13:00:00Z",
                     "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Loki sent a bad response" in err and message in err
    assert "wrote 0 rows" not in err and not out.exists()


# --- the fuzz, bounded for the suite ---------------------------------------------------------

@settings(max_examples=1500, derandomize=True,
          **{**FUZZ_SETTINGS, "phases": [Phase.generate, Phase.shrink]})
@given(bodies())
def test_mutated_real_bodies_never_escape_the_error_family(named):
    _, body = named
    assert escapes(body) == []


def test_every_parser_is_fuzzed():
    assert set(PARSERS) >= {"prometheus.frame_from_response", "loki.frame_from_response",
                            "prometheus.buckets_from_response",
                            "prometheus.exemplars_from_response",
                            "alertmanager.alerts_from_response", "loki.volume_from_response",
                            "loki.log_page", "loki.index_volume_from_response"}
    for parse in PARSERS.values():
        with contextlib.suppress(DatasourceError):
            parse(b"{}")
