"""Histogram buckets (native and classic), exemplars, and the warnings an error body carries."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
import requests

from config import Upstream
from datasources import prom_histograms as ph
from datasources import prometheus as prom
from datasources.errors import BadResponse, QueryError, Unreachable
from datasources.http import error_for

T = 1_700_000_000


def ok(kind: str, result: list, **extra) -> bytes:
    return orjson.dumps({"status": "success", "data": {"resultType": kind, "result": result},
                         **extra})


def native(buckets: list, count: str = "10", total: str = "2.5") -> dict:
    return {"count": count, "sum": total, "buckets": buckets}


def classic(metric: dict, counts: dict[str, str], t: float = T) -> list[dict]:
    return [{"metric": {**metric, "le": le}, "value": [t, c]} for le, c in counts.items()]


# --- native histograms ------------------------------------------------------------------------

def test_native_vector_keeps_every_bucket_with_its_boundary_rule_and_the_zero_bucket():
    buckets = [[1, "-0.5", "-0.25", "1"], [3, "-0.001", "0.001", "2"],
               [0, "0.25", "0.5", "3"], [0, "0.5", "1", "4"]]
    body = ok("vector", [{"metric": {"__name__": "lat", "job": "api"},
                          "histogram": [T, native(buckets)]}])
    frame = ph.buckets_from_response(body)
    assert list(frame.columns) == [*ph.BUCKET_COLUMNS, "__name__", "job"]
    assert frame["lower"].tolist() == [-0.5, -0.001, 0.25, 0.5]
    assert frame["upper"].tolist() == [-0.25, 0.001, 0.5, 1.0]
    assert frame["count"].tolist() == [1, 2, 3, 4]
    assert frame["boundary"].tolist() == [1, 3, 0, 0]
    assert ph.lower_closed(frame["boundary"]).tolist() == [True, True, False, False]
    assert ph.upper_closed(frame["boundary"]).tolist() == [False, True, True, True]
    assert (frame["sum"] == 2.5).all() and (frame["total"] == 10).all()
    assert (frame["timestamp"] == pd.Timestamp(T, unit="s", tz="UTC")).all()
    assert frame["series"].tolist() == ['lat{job="api"}'] * 4
    assert [ph.describe_bucket(*r) for r in zip(frame["lower"], frame["upper"],
                                                frame["boundary"], strict=True)] == [
        "[-0.5, -0.25)", "[-0.001, 0.001]", "(0.25, 0.5]", "(0.5, 1]"]


def test_native_matrix_gives_rows_per_sample_and_a_bucketless_sample_none():
    body = ok("matrix", [{"metric": {}, "histograms": [
        [T, native([[0, "1", "2", "1.5"]], count="1.5")],
        [T + 60, native([], count="0", total="0")],
        [T + 120, {"count": "0", "sum": "0"}],
        [T + 180, native([[0, "1", "2", "1"], [0, "2", "4", "2"]], count="3")]]}])
    frame = ph.buckets_from_response(body, expr="rate(lat[5m])")
    assert frame["timestamp"].tolist() == [pd.Timestamp(T + s, unit="s", tz="UTC")
                                           for s in (0, 180, 180)]
    assert frame["count"].tolist() == [1.5, 1, 2]
    assert frame["series"].unique().tolist() == ["rate(lat[5m])"]


@pytest.mark.parametrize(("histogram", "message"), [
    (native([[4, "0", "1", "1"]]), "boundary rule is a number '4'"),
    (native([[True, "0", "1", "1"]]), "boundary rule is true/false"),
    (native([[0, "2", "1", "1"]]), "lower bound 2.0 is above upper 1.0"),
    (native([[0, "NaN", "1", "1"]]), "lower bound nan"),
    (native([[0, "0", "1"]]), 'not \\[rule, "lower", "upper", "count"\\]'),
    (native([[0, "0", "1", 1]]), "count '1' is not a number"),
    (native([{"a": 1}]), "bucket 0 is an object"),
    (native("[]"), "buckets is a string"),
    ({"count": "1"}, "sum 'null' is not a number"),
    ({"count": 1, "sum": "1"}, "count '1' is not a number"),
    ([], "histogram is a list"),
])
def test_malformed_native_histograms_are_bad_responses_naming_the_field(histogram, message):
    body = ok("vector", [{"metric": {}, "histogram": [T, histogram]}])
    with pytest.raises(BadResponse, match=message):
        ph.buckets_from_response(body)


def test_malformed_sample_pairs_and_times_are_bad_responses():
    for sample, message in (([T], "pair"), ("x", "a string"), (["t", native([])], "timestamp"),
                            ([1e12, native([[0, "0", "1", "1"]])], "outside the times")):
        with pytest.raises(BadResponse, match=message):
            ph.buckets_from_response(ok("vector", [{"metric": {}, "histogram": sample}]))


# --- classic histograms -----------------------------------------------------------------------

def test_classic_buckets_are_de_cumulated_up_to_the_inf_bucket():
    metric = {"__name__": "lat_bucket", "job": "api"}
    body = ok("vector", classic(metric, {"1": "4", "+Inf": "10", "0.25": "1", "0.5": "4"}))
    frame = ph.buckets_from_response(body)
    assert frame["lower"].tolist() == [0, 0.25, 0.5, 1]
    assert frame["upper"].tolist() == [0.25, 0.5, 1, math.inf]
    assert frame["count"].tolist() == [1, 3, 0, 6]
    assert (frame["boundary"] == 0).all() and (frame["total"] == 10).all()
    assert frame["sum"].isna().all()
    assert frame["series"].unique().tolist() == ['lat{job="api"}']
    assert "le" not in frame and frame["__name__"].unique().tolist() == ["lat"]
    assert frame.attrs["warnings"] == []


def test_classic_buckets_group_by_labels_and_time():
    body = ok("matrix", [
        {"metric": {"le": le, "route": r}, "values": [[T, str(c)], [T + 60, str(2 * c)]]}
        for r in ("a", "b") for le, c in (("0.1", 1), ("+Inf", 3))])
    frame = ph.buckets_from_response(body)
    assert len(frame) == 8
    assert frame.groupby(["route", "timestamp"], observed=True)["count"].sum().tolist() == \
        [3, 6, 3, 6]


def test_a_first_bucket_at_or_below_zero_starts_at_minus_infinity():
    frame = ph.buckets_from_response(ok("vector", classic({}, {"-1": "1", "+Inf": "2"})))
    assert frame["lower"].tolist() == [-math.inf, -1]


def test_non_cumulative_classic_buckets_are_a_bad_response_naming_the_bucket():
    body = ok("vector", classic({"__name__": "lat_bucket"}, {"0.1": "5", "0.5": "3",
                                                             "+Inf": "9"}))
    with pytest.raises(BadResponse, match=r"lat is not cumulative at .*le=0\.5 holds 3\.0"):
        ph.buckets_from_response(body)


def test_a_rounding_dip_from_rate_counts_as_no_change():
    body = ok("vector", classic({}, {"0.1": "0.30000000000000004", "0.5": "0.3", "+Inf": "1"}))
    assert ph.buckets_from_response(body)["count"].tolist() == [0.30000000000000004, 0, 0.7]


def test_repeated_or_unreadable_le_is_a_bad_response():
    twice = ok("vector", classic({}, {"0.1": "1", "+Inf": "2"})
               + classic({}, {"0.1": "1"}))
    with pytest.raises(BadResponse, match=r"le=0\.1 twice"):
        ph.buckets_from_response(twice)
    for le in ("fast", "NaN"):
        with pytest.raises(BadResponse, match="le"):
            ph.buckets_from_response(ok("vector", classic({}, {le: "1"})))


def test_no_inf_bucket_and_plain_series_are_noted_not_fatal():
    result = [*classic({}, {"0.1": "1"}), {"metric": {"a": "b"}, "value": [T, "5"]}]
    frame = ph.buckets_from_response(ok("vector", result, warnings=["upstream said"]))
    assert frame["total"].isna().all()
    assert frame.attrs["warnings"][0] == "upstream said"
    assert any("+Inf" in n for n in frame.attrs["warnings"])
    assert any("without an le label" in n for n in frame.attrs["warnings"])


def test_native_and_classic_in_one_body_give_one_frame():
    result = [{"metric": {"k": "n"}, "histogram": [T, native([[0, "1", "2", "1"]])]},
              *classic({"k": "c"}, {"1": "1", "+Inf": "1"})]
    frame = ph.buckets_from_response(ok("vector", result))
    assert sorted(frame["k"].astype(str).unique()) == ["c", "n"]
    assert isinstance(frame["series"].dtype, pd.CategoricalDtype)


def test_scalar_and_empty_results_give_an_empty_bucket_frame():
    for body in (ok("scalar", [T, "1"]), ok("vector", []), ok("matrix", [])):
        frame = ph.buckets_from_response(body)
        assert frame.empty and list(frame.columns) == list(ph.BUCKET_COLUMNS)
    with pytest.raises(BadResponse):
        ph.buckets_from_response(ok("streams", []))


# --- exemplars --------------------------------------------------------------------------------

def exemplar_body(groups) -> bytes:
    return orjson.dumps({"status": "success", "data": groups})


def test_exemplars_frame_has_their_labels_series_labels_time_and_value():
    body = exemplar_body([{
        "seriesLabels": {"__name__": "lat_bucket", "le": "0.5", "trace_id": "series-side"},
        "exemplars": [{"labels": {"trace_id": "abc", "request_id": "abc"}, "value": "0.31",
                       "timestamp": T + 0.125},
                      {"labels": {"trace_id": "def"}, "value": "0.4", "timestamp": T + 1}]}])
    frame = ph.exemplars_from_response(body)
    assert frame["trace_id"].tolist() == ["abc", "def"]
    assert frame["request_id"].astype(object).tolist()[0] == "abc"
    assert pd.isna(frame["request_id"].iloc[1])
    assert frame["value"].tolist() == [0.31, 0.4]
    assert frame["timestamp"].iloc[0] == pd.Timestamp(T, unit="s", tz="UTC") \
        + pd.Timedelta(125, "ms")
    assert frame["le"].tolist() == ["0.5", "0.5"]
    assert frame["series_trace_id"].tolist() == ["series-side"] * 2


def test_no_exemplars_is_an_empty_frame():
    for data in ([], None, [{"seriesLabels": {}, "exemplars": []}]):
        frame = ph.exemplars_from_response(exemplar_body(data))
        assert frame.empty and list(frame.columns)[:3] == ["timestamp", "value", "series"]


@pytest.mark.parametrize(("data", "message"), [
    ({"a": 1}, "exemplar data is an object"),
    ([{"seriesLabels": {}, "exemplars": 5}], "exemplars is a number"),
    ([{"seriesLabels": {"a": 1}, "exemplars": []}], "seriesLabels"),
    ([{"seriesLabels": {}, "exemplars": [{"labels": {}, "value": 1, "timestamp": T}]}],
     "value '1' is not a number"),
    ([{"seriesLabels": {}, "exemplars": [{"labels": {}, "value": "1", "timestamp": "x"}]}],
     "timestamp"),
])
def test_malformed_exemplar_bodies_are_bad_responses(data, message):
    with pytest.raises(BadResponse, match=message):
        ph.exemplars_from_response(exemplar_body(data))


# --- warnings on error bodies -----------------------------------------------------------------

ERROR_WITH_WARNINGS = {"status": "error", "errorType": "timeout", "error": "query timed out",
                       "warnings": ["PromQL warning: x"], "infos": ["PromQL info: y"]}


def test_an_error_body_keeps_its_warnings_and_infos():
    with pytest.raises(Unreachable) as info:
        prom.frame_from_response(orjson.dumps(ERROR_WITH_WARNINGS))
    assert info.value.warnings == ["PromQL warning: x", "info: PromQL info: y"]
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.warnings == info.value.warnings and copy.message == "query timed out"


def test_an_http_error_keeps_the_bodys_warnings():
    resp = requests.Response()
    resp.status_code, resp.url = 422, "http://127.0.0.1:9/api/v1/query"
    resp._content = orjson.dumps({**ERROR_WITH_WARNINGS, "errorType": "execution"})
    error = error_for(resp, Upstream("Prometheus", "http://127.0.0.1:9", 1.0, 1.0), prom.read_error)
    assert isinstance(error, QueryError) and error.warnings[0] == "PromQL warning: x"


def test_misshapen_warnings_on_an_error_body_do_not_hide_the_error():
    body = orjson.dumps({**ERROR_WITH_WARNINGS, "warnings": 5})
    with pytest.raises(Unreachable, match="timed out") as info:
        prom.frame_from_response(body)
    assert info.value.warnings == []


# --- golden: bodies recorded from Prometheus 2.42 scraping the demo API ------------------------
# (tests/record_prometheus_bodies.py histograms: the same requests counted in classic buckets
# with exemplars on /metrics and in a native histogram, schema 3, on /metrics/native)

FIXTURES = Path(__file__).parents[1] / "fixtures"
INDEX = json.loads((FIXTURES / "prometheus" / "INDEX.json").read_text())


def recorded(name: str) -> bytes:
    return (FIXTURES / INDEX[name]["file"]).read_bytes()


def test_recorded_native_buckets_are_schema_3_and_add_up_to_the_count():
    frame = ph.buckets_from_response(recorded("prom_native_vector"))
    assert len(frame) and (frame["boundary"] == 0).all()
    exponent = np.log2(frame["upper"].to_numpy()) * 8
    assert np.allclose(exponent, np.round(exponent), atol=1e-9)
    assert np.allclose(frame["upper"] / frame["lower"], 2 ** (1 / 8), rtol=1e-12)
    per = frame.groupby("route", observed=True).agg(count=("count", "sum"), total=("total", "max"))
    assert (per["count"] == per["total"]).all() and per["total"].sum() > 0
    assert set(frame["job"].unique()) == {"api-native"}


def test_recorded_classic_and_native_histograms_hold_the_same_requests():
    classic_frame = ph.buckets_from_response(recorded("prom_classic_vector"))
    native_frame = ph.buckets_from_response(recorded("prom_native_vector"))
    assert classic_frame.groupby("route", observed=True)["total"].max().to_dict() == \
        native_frame.groupby("route", observed=True)["total"].max().to_dict()
    for (route, upper), cumulative in classic_frame.assign(
            cum=classic_frame.groupby("route", observed=True)["count"].cumsum()
    ).set_index(["route", "upper"])["cum"].items():
        mine = native_frame[native_frame["route"] == route]
        # A native bucket wholly at or below le is counted in le; one wholly above is not.
        assert mine.loc[mine["upper"] <= upper, "count"].sum() <= cumulative
        assert cumulative <= mine.loc[mine["lower"] < upper, "count"].sum()


@pytest.mark.parametrize("name", ["prom_native_matrix", "prom_classic_matrix"])
def test_recorded_rates_give_buckets_on_the_step_grid_adding_up_to_the_total(name):
    p = INDEX[name]["params"]
    frame = ph.buckets_from_response(recorded(name), expr=p["query"])
    seconds = frame["timestamp"].astype("int64") / 1e9
    assert np.allclose((seconds - p["start"]) / p["step"] % 1, 0, atol=1e-6)
    assert (frame["count"] >= 0).all()
    per = frame.groupby(["route", "timestamp"], observed=True).agg(
        count=("count", "sum"), total=("total", "max"))
    assert np.allclose(per["count"], per["total"]) and len(per) > 3


def test_recorded_exemplars_name_logged_requests_inside_their_bucket():
    from stack.demo_api import BUCKETS

    entry = INDEX["prom_exemplars"]
    frame = ph.exemplars_from_response(recorded("prom_exemplars"))
    assert len(frame) > 5
    assert set(frame["request_id"]) <= set(entry["logged_request_ids"])
    assert frame["trace_id"].str.fullmatch("[0-9a-f]{32}").all()
    le = frame["le"].astype(str).map(float).to_numpy()
    below = np.array([max([b for b in BUCKETS if b < x], default=0.0) for x in le])
    assert ((frame["value"] <= le) & (frame["value"] > below)).all()
    seconds = frame["timestamp"].astype("int64") / 1e9
    assert ((seconds >= entry["params"]["start"]) & (seconds <= entry["params"]["end"])).all()


def test_recorded_string_with_quotes_is_one_row_of_text():
    frame = prom.frame_from_response(recorded("prom_string_quotes"), expr="q")
    assert frame["text"].tolist() == ['say "hi"'] and frame["series"].tolist() == ["q"]
