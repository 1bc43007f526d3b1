"""The Loki double answers like Loki: the bodies' shapes, Loki's parameters and words."""

from __future__ import annotations

import pandas as pd
import pytest
import requests

from datasources.loki_frame import frame_from_response
from tests.loki_bodies import OWN

# The Loki double's fixtures (loki_double, make_loki_double).

CATEGORIZE = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
T0 = 1_714_564_800 * 10**9
API = "/loki/api/v1"

#: What the tests ask the double for a real body: the own bodies carry theirs in INDEX.json.
SHARED_REQUESTS = {
    "loki_docs_query_range_streams.json": ("/query_range", {}, {
        "query": '{job="varlogs"}', "start": "1569266492548155000",
        "end": "1569266497240578001"}),
    "loki_codec_streams_categorized.json": ("/query_range", CATEGORIZE, {
        "query": '{test="test"} | logfmt', "start": "123456789012345",
        "end": "123456789012348", "direction": "forward"}),
    "loki_marshal_encodeflags_uncategorized.json": ("/query_range", {}, {
        "query": '{test="test"} | logfmt', "start": "123456789012346",
        "end": "123456789012347", "direction": "forward"}),
    "error_parse_literal_not_terminated.txt": ("/query_range", {}, {"query": '{foo="bar}'}),
    "error_max_entries_limit.txt": ("/query_range", {}, {"query": '{foo="bar"}',
                                                         "limit": "10000"}),
    "error_instant_log_query.txt": ("/query", {}, {"query": '{foo="bar"}'}),
    "error_empty_compatible_matcher.txt": ("/query_range", {}, {"query": '{app=~".*"}'}),
}


def asked(corpus, name: str) -> tuple[str, dict, dict] | None:
    """(path under /loki/api/v1, headers, params) of the request a body answers, if known."""
    if corpus is not OWN:
        return SHARED_REQUESTS.get(name)
    request = corpus.index()[name].get("request")
    if request is None:
        return None
    return (request["path"].removeprefix(API), request.get("headers", {}),
            dict(request["params"]))


def fixture(corpus, name: str):
    """A body as JSON, or an error body's text."""
    return corpus.json(name) if name.endswith(".json") else corpus.body(name).decode()


def entries_of(corpus, name: str) -> list[tuple]:
    """The entries of a streams body, as the double loads them."""
    out = []
    for stream in corpus.json(name)["data"]["result"]:
        for value in stream["values"]:
            meta = value[2] if len(value) > 2 else {}
            sm = meta.get("structuredMetadata", meta if "parsed" not in meta else {})
            out.append((int(value[0]), stream["stream"], value[1], sm))
    return out


def get(double, path, headers=None, **params):
    return requests.get(double.url + API + path, params=params, headers=headers, timeout=5)


def same_frames(ours: pd.DataFrame, real: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(ours, real)
    assert ours.attrs == real.attrs


# --- bodies shaped like the written and the recorded ones ----------------------------------------

def test_streams_answer_is_the_documented_example(corpus, make_loki_double):
    name = corpus.pick(own="streams_documented.json", shared="loki_docs_query_range_streams.json")
    path, headers, params = asked(corpus, name)
    double = make_loki_double(entries_of(corpus, name))
    resp = get(double, path, headers=headers, **params)
    real = fixture(corpus, name)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith(
        "application/json")
    ours = resp.json()
    assert ours["status"] == real["status"] and ours["data"]["result"] == real["data"]["result"]
    same_frames(frame_from_response(resp.content), frame_from_response(real))


def test_categorized_answer_frames_like_the_recorded_one(corpus, make_loki_double):
    name = corpus.pick(own="streams_categorized.json",
                       shared="loki_codec_streams_categorized.json")
    path, headers, params = asked(corpus, name)
    double = make_loki_double(entries_of(corpus, name))
    resp = get(double, path, headers=headers, **params)
    body = resp.json()
    assert body["data"]["encodingFlags"] == ["categorize-labels"]
    assert body["data"]["result"] == fixture(corpus, name)["data"]["result"]
    same_frames(frame_from_response(resp.content), frame_from_response(fixture(corpus, name)))


def test_without_the_flag_metadata_and_parsed_labels_fold_into_streams(corpus,
                                                                       make_loki_double):
    # The categorized body's entries, under the stream labels alone, asked for without the flag.
    source, name, stream = corpus.pick(
        own=("streams_categorized.json", "streams_uncategorized.json", None),
        shared=("loki_marshal_encodeflags_categorized.json",
                "loki_marshal_encodeflags_uncategorized.json", {"test": "test"}))
    path, headers, params = asked(corpus, name)
    double = make_loki_double(
        [(t, stream or labels, line, sm) for t, labels, line, sm in entries_of(corpus, source)])
    resp = get(double, path, headers=headers, **params)
    assert all(len(v) == 2 for s in resp.json()["data"]["result"] for v in s["values"])
    ours = frame_from_response(resp.content)
    real = frame_from_response(fixture(corpus, name))
    same_frames(ours.sort_values("line", ignore_index=True),
                real.sort_values("line", ignore_index=True))


def metric_entries():
    return [(T0 + i * 10**9, {"app": "api", "level": ("info", "warn")[i % 2]}, f"l{i}")
            for i in range(40)]


def test_matrix_answer_frames_like_the_documented_matrix(corpus, make_loki_double):
    double = make_loki_double(metric_entries())
    resp = get(double, "/query_range", query='sum by (level) (count_over_time({app="api"}[10s]))',
               start=str(T0), end=str(T0 + 40 * 10**9), step="10")
    ours = frame_from_response(resp.content)
    real = frame_from_response(corpus.body(corpus.pick(
        own="matrix_documented.json", shared="loki_docs_query_range_matrix.json")))
    assert list(ours.columns) == list(real.columns)
    assert list(map(str, ours.dtypes)) == list(map(str, real.dtypes))
    assert ours.attrs["result_type"] == "matrix"
    # count_over_time at t counts (t - 10s, t]: 5 of each level per full window.
    assert ours.groupby("level", observed=True)["value"].apply(list).to_dict() == {
        "info": [1.0, 5.0, 5.0, 5.0, 4.0], "warn": [5.0, 5.0, 5.0, 5.0]}


def test_vector_answer_frames_like_the_documented_vector(corpus, make_loki_double):
    double = make_loki_double(metric_entries())
    resp = get(double, "/query", query='sum by (level) (count_over_time({app="api"}[1h]))',
               time=str(T0 + 3599 * 10**9))
    ours = frame_from_response(resp.content)
    real = frame_from_response(corpus.body(corpus.pick(
        own="vector_documented.json", shared="loki_docs_query_vector.json")))
    assert list(ours.columns) == list(real.columns) and ours.attrs["result_type"] == "vector"
    assert sorted(ours["value"]) == [20.0, 20.0]
    scalar_sum = get(double, "/query", query="vector(1)+vector(1)").json()
    assert scalar_sum["data"]["result"][0]["value"][1] == "2"


def test_series_labels_and_values_answers_are_the_documented_ones(corpus, make_loki_double):
    # every stream matches ``everything``; ``first`` matches only the body's first label set
    name, everything, label, label_values, first = corpus.pick(
        own=("series.json", '{env="prod"}', "service", ["billing", "cart"],
             '{service="billing"}'),
        shared=("loki_docs_series.json", '{namespace="default"}', "app", ["loki", "prometheus"],
                '{app="loki"}'))
    real_series = fixture(corpus, name)["data"]
    double = make_loki_double([(T0 + i, s, "x") for i, s in enumerate(real_series)])
    span = {"start": str(T0), "end": str(T0 + 10)}
    series = get(double, "/series", **{"match[]": everything}, **span).json()
    assert sorted(series["data"], key=str) == sorted(real_series, key=str)
    labels = get(double, "/labels", **span).json()
    assert labels["status"] == "success"
    assert labels["data"] == sorted({k for s in real_series for k in s})
    values = get(double, f"/label/{label}/values", **span).json()
    assert values["data"] == label_values
    only = get(double, "/series", **{"match[]": first}, **span).json()["data"]
    assert only == [real_series[0]]


# --- Loki's words -------------------------------------------------------------------------------

def is_bad_request(body) -> bool:
    """An error body the double can be asked for (it never times out)."""
    return (body.facts["endpoint"] == "error" and body.facts["http_status"] == 400
            and asked(body.corpus, body.name) is not None)


@pytest.mark.loki_bodies(where=is_bad_request)
def test_errors_are_worded_as_the_recorded_ones(loki_body, make_loki_double):
    facts = loki_body.facts
    path, headers, params = asked(loki_body.corpus, loki_body.name)
    resp = get(make_loki_double(), path, headers=headers, **params)
    assert resp.status_code == facts["http_status"]
    assert resp.headers["Content-Type"] == facts["content_type"]
    assert resp.text == fixture(loki_body.corpus, loki_body.name)


@pytest.mark.parametrize(("params", "text"), [
    ({"limit": "0"}, "limit must be a positive value"),
    ({"direction": "up"}, "invalid direction 'up'"),
    ({"start": "20", "end": "10"}, "end timestamp must not be before or equal to start time"),
    ({"start": "yesterday"}, 'strconv.ParseInt: parsing "yesterday": invalid syntax'),
    ({"start": "0", "end": "86400", "step": "1"}, "exceeded maximum resolution of 11,000 "
     "points per time series. Try increasing the value of the step parameter"),
])
def test_bad_parameters_get_lokis_400(params, text, make_loki_double):
    resp = get(make_loki_double(), "/query_range", query='{a="b"}', **params)
    assert (resp.status_code, resp.text) == (400, text)


# --- parameters ----------------------------------------------------------------------------

def lines(resp) -> list[str]:
    return [v[1] for s in resp.json()["data"]["result"] for v in s["values"]]


@pytest.fixture
def ten(make_loki_double):
    return make_loki_double([(T0 + i * 10**9, {"app": "a"}, f"l{i}") for i in range(10)]
                            + [(T0 + i * 10**9, {"app": "a"}, f"x{i}") for i in range(200)])


def test_limit_defaults_to_100_and_direction_to_backward(ten):
    found = lines(get(ten, "/query_range", query='{app="a"}', start=str(T0),
                      end=str(T0 + 300 * 10**9)))
    assert len(found) == 100 and found[0] == "x199"


def test_start_is_inclusive_and_end_exclusive_in_every_time_format(ten):
    expected = ["l2", "x2", "l3", "x3", "l4", "x4"]
    for start, end in [(str(T0 + 2 * 10**9), str(T0 + 5 * 10**9)),
                       ("2024-05-01T12:00:02Z", "2024-05-01T12:00:05.000000000Z"),
                       ("1714564802.0", "1714564805.0"),
                       ("1714564802", "1714564805")]:
        found = lines(get(ten, "/query_range", query='{app="a"}', start=start, end=end,
                          direction="forward"))
        assert sorted(found) == sorted(expected), (start, end)


def test_line_filters_and_label_filters(ten):
    found = lines(get(ten, "/query_range", query='{app="a"} |~ "l[0-4]" != "l3"', start=str(T0),
                      end=str(T0 + 10**12), direction="FORWARD"))
    assert found == ["l0", "l1", "l2", "l4"]


def test_ready_and_unknown_paths(ten):
    assert requests.get(ten.url + "/ready", timeout=5).text == "ready"
    assert requests.get(ten.url + "/nope", timeout=5).status_code == 404


def test_post_form_queries_are_accepted(ten):
    resp = requests.post(ten.url + "/loki/api/v1/query_range", timeout=5, data={
        "query": '{app="a"}', "start": str(T0), "end": str(T0 + 10**9), "limit": "5"})
    assert sorted(lines(resp)) == ["l0", "x0"]
