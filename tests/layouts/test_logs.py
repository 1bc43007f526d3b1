"""layouts/logs.py's pure helpers, on frames framed from Loki bodies by ``loki_frame``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from callbacks.logs import rejection, trouble_notice
from datasources.cache import Result
from datasources.errors import QueryError, Unreachable
from datasources.loki import volume_frame
from datasources.loki_frame import frame_from_response
from layouts import logs as view
from query import log_view, logql

T0 = 1_714_564_800 * 10**9


def streams_body(*streams) -> dict:
    """A categorize-labels streams body: (labels, [(ts, line, metadata), …]) per stream."""
    return {"status": "success", "data": {
        "resultType": "streams", "encodingFlags": ["categorize-labels"],
        "result": [{"stream": labels, "values": [[str(t), line, meta] for t, line, meta in v]}
                   for labels, v in streams]}}


BACKEND = {"job": "backend", "service_name": "backend"}
JSON_LINE = json.dumps({"level": "error", "logger": "api.tasks",
                        "message": "task creation failed", "request_id": "req-1"})


@pytest.fixture
def frame():
    return frame_from_response(streams_body(
        (BACKEND, [(T0 + 123, JSON_LINE, {"structuredMetadata": {"trace_id": "abc"}})]),
        ({"job": "nginx"}, [(T0 + 5 * 10**8, '"GET / HTTP/1.1" 200 token=s3cret', {})]),
    ))


def test_rows_carry_exact_time_level_service_message_and_every_extra(frame):
    rows = log_view.row_data(frame)
    assert [r[log_view.TIME] for r in rows] == ["2024-05-01 12:00:00.000000123",
                                            "2024-05-01 12:00:00.500000000"]
    assert [r["level"] for r in rows] == ["error", "unknown"]
    assert [r[log_view.SERVICE] for r in rows] == ["backend", "nginx"]
    assert rows[0][log_view.MESSAGE] == "task creation failed"  # the JSON field, not the line
    assert rows[1][log_view.MESSAGE] == '"GET / HTTP/1.1" 200 token=s3cret'  # no JSON: the line
    assert rows[0]["trace_id"] == "abc" and rows[0]["request_id"] == "req-1"
    assert "trace_id" not in rows[1]  # missing cells are left out, never "nan"


@pytest.mark.loki_bodies(where=lambda body: body.facts["resultType"] == "streams")
def test_every_streams_body_becomes_grid_rows(loki_body):
    facts = loki_body.facts
    rows = log_view.row_data(frame_from_response(loki_body.raw))
    assert len(rows) == facts["entries"]
    assert all(isinstance(r[k], str) for r in rows
               for k in (log_view.TIME, "level", log_view.SERVICE, log_view.MESSAGE))
    first = int(facts["min_ts_ns"])
    assert rows[0][log_view.TIME].endswith(f".{first % 10**9:09d}")


def test_extra_columns_are_labels_then_fields_then_raw(frame):
    extra = log_view.extra_columns(frame)
    assert extra[:2] == ["job", "service_name"]
    assert extra[-2:] == ["labels", "line"]
    assert "trace_id" in extra and "request_id" in extra and "level" not in extra


def test_chosen_extra_columns_are_shown_others_hidden():
    defs = view.column_defs(["job", "trace_id"], ["trace_id"])
    assert [d["field"] for d in defs] == [log_view.TIME, "level", log_view.SERVICE,
                                          log_view.MESSAGE, "job", "trace_id"]
    assert [d.get("hide") for d in defs[4:]] == [True, False]


def test_level_cells_use_the_histograms_colours():
    conditions = view.level_cell_style()["styleConditions"]
    by_level = {c["condition"].split("'")[1]: c["style"]["backgroundColor"] for c in conditions}
    assert by_level == view.LEVEL_COLOURS


def test_redaction_hides_secrets_in_every_text_cell(frame):
    rules = (SimpleNamespace(pattern=r"token=\S+", replacement="token=[REDACTED]"),
             SimpleNamespace(pattern=r"req-\d+", replacement="req-?"))
    rows = log_view.row_data(log_view.redacted(frame, rules))
    assert rows[1][log_view.MESSAGE].endswith("token=[REDACTED]")
    assert rows[0]["request_id"] == "req-?" and "req-1" not in rows[0]["line"]
    assert log_view.redacted(frame, ()) is frame


def test_volume_figure_stacks_one_trace_per_level_in_level_order(corpus):
    # levels "error" and "info" (own), "info" and "warn" (real): six samples each
    name, levels, total = corpus.pick(
        own=("matrix_documented.json", ["error", "info"], 357),
        shared=("loki_docs_query_range_matrix.json", ["warning", "info"], 2529))
    bars = volume_frame(frame_from_response(corpus.json(name)), 60)
    fig = view.volume_figure(bars, span_ns=(T0, T0 + 3600 * 10**9))
    assert [t.name for t in fig.data] == levels  # most severe at the bottom
    assert [t.marker.color for t in fig.data] == [view.LEVEL_COLOURS[lv] for lv in levels]
    assert fig.layout.barmode == "stack"
    assert log_view.volume_total(bars) == total  # sum of the body's six samples, rounded down


def test_empty_volume_says_so():
    fig = view.volume_figure(None, "no volume: the query failed")
    assert fig.data == () and fig.layout.annotations[0].text == "no volume: the query failed"


@pytest.mark.parametrize(("shown", "limit", "total", "text"), [
    (1000, 1000, 12_041, "showing 1,000 of 12,041 entries (limit 1,000)"),
    (1000, 1000, None, "1,000 entries"),  # volume failed: say only what is shown
    (1000, 1000, 1000, "1,000 entries"),  # the limit was exactly enough
    (37, 1000, 40, "37 entries"),  # under the limit: all rows are here
    (1, 100, 1, "1 entry"),
    (None, 100, 5, ""),
])
def test_count_text_says_showing_n_of_m_only_when_the_limit_cut(shown, limit, total, text):
    assert view.count_text(shown, limit, total) == text


@pytest.mark.parametrize(("query", "name", "value", "result"), [
    ("", "job", "api", '{job="api"}'),
    (None, "job", "api", '{job="api"}'),
    ('{env="prod"} |= "x"', "job", "api", '{env="prod", job="api"} |= "x"'),
    ('{job="web", env="prod"} | json', "job", "api", '{env="prod", job="api"} | json'),
    ('{job=~"a|b"}', "env", 'say "hi"\\', '{job=~"a|b", env="say \\"hi\\"\\\\"}'),
    ('{msg="a}b"} |= "c"', "job", "x", '{msg="a}b", job="x"} |= "c"'),
    ('|= "error"', "job", "api", '{job="api"} |= "error"'),
    ('{}', "job", "api", '{job="api"}'),
])
def test_label_browser_inserts_a_selector(query, name, value, result):
    assert logql.with_matcher(query, name, value) == result


def test_label_values_become_buttons_up_to_a_cap():
    buttons = view.label_value_buttons("pod", [f"p{i}" for i in range(5)], most=3)
    assert [b.id["value"] for b in buttons[:3]] == ["p0", "p1", "p2"]
    assert buttons[3].children == "first 3 of 5 values"
    assert "No values for pod" in str(view.label_value_buttons("pod", []))
    assert view.label_value_buttons(None, ["x"]) is None


def test_label_names_hide_lokis_internal_ones():
    assert view.label_options(["__stream_shard__", "job"]) == [{"label": "job", "value": "job"}]


def test_unreachable_loki_is_explained_with_the_setting_to_change():
    alert = trouble_notice(Result(error=Unreachable("Loki", "connection refused")), "http://x:3100")
    text = str(alert)
    assert "Loki is not reachable at http://x:3100" in text
    assert "STACKSCOPE_LOKI_URL" in text and "loki.url" in text
    assert "connection refused" in text
    assert trouble_notice(Result(error=QueryError("Loki", "x")), "http://x:3100") is None


def test_only_query_errors_go_under_the_editor():
    assert view.query_error(rejection(Unreachable("Loki", "down"))) is None
    shown = str(view.query_error(rejection(QueryError("Loki", "parse error at line 1, col 6: x"))))
    assert "parse error at line 1, col 6: x" in shown


def test_metric_answers_are_not_log_rows(corpus):
    matrix, streams = corpus.pick(
        own=("matrix_documented.json", "streams_quoted_labels.json"),
        shared=("loki_docs_query_range_matrix.json", "grafana_streams_simple.json"))
    assert not log_view.is_log_frame(frame_from_response(corpus.json(matrix)))
    assert log_view.is_log_frame(frame_from_response(corpus.json(streams)))


def parsed_frame(values: dict[str, list[str]]):
    """A frame of len(values[...]) JSON-ish lines whose parsed labels are ``values``."""
    n = len(next(iter(values.values())))
    entries = [(T0 + i, f"line {i}", {"parsed": {k: v[i] for k, v in values.items()
                                                   if v[i] is not None}}) for i in range(n)]
    return frame_from_response(streams_body((BACKEND, entries)))


def test_numeric_fields_become_numbers_and_ids_stay_text():
    frame = parsed_frame({"duration_ms": ["0.403", "12", "1500.75", None, "5.4030000000000005"],
                          "status": ["200", "401", "500", "200", "503"],
                          "user_id": ["007", "12", "3", "4", "5"],  # a leading zero: an id
                          "span_id": ["1234567890123456", "1", "2", "3", "4"],  # past 2**53
                          "word": ["1", "2", "x", "4", "5"]})
    assert log_view.numeric_columns(frame) == ["duration_ms", "status"]
    rows = log_view.row_data(frame)
    assert [r.get("duration_ms") for r in rows] == [0.403, 12, 1500.75, None,
                                                    5.4030000000000005]
    assert rows[1]["status"] == 401 and rows[0]["user_id"] == "007"
    defs = {d["field"]: d for d in view.column_defs(log_view.extra_columns(frame), [],
                                                     log_view.numeric_columns(frame))}
    assert defs["duration_ms"]["filter"] == "agNumberColumnFilter"
    assert defs["duration_ms"]["cellDataType"] == "number"
    assert defs["user_id"]["filter"] == "agTextColumnFilter"


def test_row_ids_are_stable_and_unique_even_for_exact_repeats():
    line = '{"message":"same"}'
    body = streams_body((BACKEND, [(T0, line, {}), (T0, line, {}), (T0 + 1, line, {})]),
                        ({"job": "other"}, [(T0, line, {})]))
    ids = [r[log_view.ROW_ID] for r in log_view.row_data(frame_from_response(body))]
    assert len(set(ids)) == 4
    again = [r[log_view.ROW_ID] for r in log_view.row_data(frame_from_response(body))]
    assert again == ids
    rows = log_view.row_data(frame_from_response(body))
    assert rows[0][log_view.NS] == str(T0)  # exact: as text, not a JavaScript number


def test_details_fields_are_stream_labels_json_fields_then_other_labels(frame):
    row = log_view.row_data(frame)[0]
    fields = log_view.details_fields(row)
    assert fields[:2] == [("stream", "job", "backend"), ("stream", "service_name", "backend")]
    assert ("json", "request_id", "req-1") in fields and ("label", "trace_id", "abc") in fields
    assert len({name for _, name, _ in fields}) == len(fields)  # each once


def test_nested_json_flattens_as_lokis_parser_names_it():
    line = '{"http": {"status-code": 401, "ok": false}, "tags": [1], "v": null, "s": "x"}'
    assert log_view.flatten_json(line) == {"http_status_code": "401", "http_ok": "false",
                                           "v": "", "s": "x"}
    assert log_view.flatten_json("not json") == {} and log_view.pretty_json("[1]") is None
    assert log_view.pretty_json('{"a":1}') == '{\n  "a": 1\n}'


def test_stream_labels_read_back_what_stream_name_wrote():
    labels = {"app": 'say "hi"\\', "env": "zürich\n"}
    assert log_view.stream_labels(logql.stream_name(labels)) == labels
    with pytest.raises(ValueError):
        log_view.stream_labels('{app=~"x"}')
