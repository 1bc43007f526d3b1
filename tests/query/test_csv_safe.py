"""A panel's CSV: timestamp, series, labels, value — and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from datasources.prometheus import empty_frame, frame_from_response
from query.csv_safe import metric_frame_csv

BODIES = Path(__file__).parents[1] / "fixtures" / "prometheus"


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_columns_and_values_of_a_recorded_matrix():
    body = json.loads((BODIES / "prom_matrix.json").read_text())
    out = rows(metric_frame_csv(frame_from_response(body)))
    first = body["data"]["result"][0]
    assert list(out[0]) == ["timestamp", "series", "__name__", "instance", "job", "value"]
    instance = first["metric"]["instance"]
    assert out[0]["series"] == f'demo_value{{instance="{instance}",job="demo"}}'
    assert [r["value"] for r in out[:len(first["values"])]] == [
        repr(float(v)) for _, v in first["values"]]
    assert out[0]["timestamp"].endswith("Z") and out[0]["timestamp"][10] == "T"


def test_special_values_are_written_as_prometheus_does_and_cannot_be_formulas():
    frame = frame_from_response((BODIES / "prom_special_matrix.json").read_bytes())
    values = {r["kind"]: r["value"] for r in rows(metric_frame_csv(frame))}
    assert values == {"inf": "'+Inf", "minus_inf": "'-Inf", "nan": "NaN", "one": "1.0"}


def test_label_values_that_look_like_formulas_are_neutralised():
    body = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"job": "=HYPERLINK(\"http://x\")", "cmd": "@SUM(A1)", "ok": "-1"},
         "value": [1714557600.5, "-2.5"]}]}}
    row = rows(metric_frame_csv(frame_from_response(body)))[0]
    assert row["job"] == "'=HYPERLINK(\"http://x\")" and row["cmd"] == "'@SUM(A1)"
    assert row["ok"] == "'-1"  # a label is text, even when it looks like a number
    assert row["value"] == "-2.5"  # a sample is a number: left as one
    assert row["timestamp"] == "2024-05-01T10:00:00.500Z"


def test_an_empty_frame_is_a_header_only():
    assert metric_frame_csv(empty_frame()) == "timestamp,series,value\r\n"  # RFC 4180 rows
