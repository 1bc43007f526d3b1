"""The demo API's native histogram: Prometheus' bucket schema and the protobuf it scrapes.

That Prometheus reads the exposition is shown by the recorded bodies
(``tests/record_prometheus_bodies.py histograms``, golden tests in
``tests/datasources/test_prom_histograms.py``); these check the arithmetic.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from stack import demo_api
from stack import native_histogram as nh


@settings(max_examples=300, derandomize=True)
@given(st.floats(min_value=1e-9, max_value=1e9), st.integers(-4, 8))
def test_a_value_lands_in_the_bucket_whose_bounds_hold_it(value, schema):
    lower, upper = nh.bucket_bounds(nh.bucket_index(value, schema), schema)
    assert lower < value <= upper * (1 + 1e-12)


@pytest.mark.parametrize(("value", "schema", "index"), [
    (1.0, 3, 0), (2.0, 3, 8), (2.0, 0, 1), (1.5, 0, 1), (4.0, -1, 1), (5.0, -1, 2),
    (0.5, 3, -8)])
def test_powers_of_two_are_upper_bounds_as_in_prometheus(value, schema, index):
    assert nh.bucket_index(value, schema) == index


def test_spans_and_deltas_are_prometheus_sparse_form():
    spans, deltas = nh.spans_and_deltas({-2: 1, -1: 3, 3: 2, 4: 2})
    assert spans == [(-2, 2), (3, 2)]
    assert deltas == [1, 2, -1, 0]


def test_the_exposition_is_one_length_delimited_message():
    hist = nh.NativeHistogram("lat_seconds", "help", ["route"])
    for v in (0.001, 0.002, 0.002, 0.5, 0.0):
        hist.observe(v, "/a")
    body = hist.family()
    length, i = 0, 0
    for i, byte in enumerate(body):  # the varint length prefix
        length |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            break
    assert len(body) == i + 1 + length
    assert b"lat_seconds" in body and b"/a" in body
    with pytest.raises(ValueError, match="labels"):
        hist.observe(1.0)
    with pytest.raises(ValueError, match="schema"):
        nh.NativeHistogram("x", "y", schema=9)


def test_openmetrics_scrapes_get_exemplars_naming_the_request():
    metrics = demo_api.Metrics()
    ids = {"request_id": "r" * 100, "trace_id": "a" * 32}
    metrics.duration.labels("/api/search").observe(0.2, exemplar=demo_api.exemplar_labels(ids))
    body, content_type = demo_api.metrics_body(metrics, "application/openmetrics-text")
    assert content_type.startswith("application/openmetrics-text")
    found = [s.exemplar for f in text_string_to_metric_families(body.decode())
             for s in f.samples if s.exemplar]
    assert [e.labels for e in found] == [{"request_id": "r" * 64, "trace_id": "a" * 32}]
    assert math.isclose(found[0].value, 0.2)
    assert demo_api.metrics_body(metrics, "text/plain")[1].startswith("text/plain")
