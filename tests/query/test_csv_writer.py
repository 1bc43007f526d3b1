"""The one CSV writer: every export path keeps one row per entry and no cell a formula.

A bare CR inside a cell, written unquoted, ends the row in a spreadsheet: the rest of the cell
starts a new row whose first cell was never neutralised. Each path — the panel's Download CSV
(through the Dash endpoint), the Logs tab's export and ``app.py export-logs`` — is read back with
Python's csv module and with pandas: the row count is what was exported and no cell, header
included, starts with a formula character.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import pandas as pd
import pytest

import app
from callbacks import build_deps
from callbacks.logs import export_range, request
from datasources.export_job import exports_dir
from query import panels
from query.csv_safe import FORMULA_START, header_row, safe_cell, write_csv
from tests import dash_calls
from tests.recording_upstream import RecordingUpstream

T0 = 1_714_564_800 * 10**9  # 2024-05-01T12:00:00Z
#: cells a spreadsheet would split, run, or both
HOSTILE = ["a\rb", "a\nb", "a\r\nb", "\r=cmd|' /C calc'!A0", "x\r=HYPERLINK(\"http://e\")",
           'say "hi", then go', "=1+2", "+SUM(A1)", "-2+3", "@A1", "\t=x", "plain", ""]
#: names that become column headers (labels, structured metadata, JSON fields)
NUMBER = re.compile(r"-?\d+(\.\d+)?")
HOSTILE_NAMES = ["=HYPERLINK(\"http://e\")", "@cmd", "+x", "-y", "a\rb", "c\nd"]


def read_back(text: str, rows: int, numbers=()) -> tuple[list[list[str]], pd.DataFrame]:
    """The CSV read by csv and pandas: ``rows`` data rows each way, no cell a formula.

    Cells of the ``numbers`` columns may be plain numbers ("-1.5"), nothing else.
    """
    table = list(csv.reader(io.StringIO(text, newline="")))
    frame = pd.read_csv(io.StringIO(text, newline=""), dtype=str, keep_default_na=False)
    assert len(table) == rows + 1 and len(frame) == rows
    assert {len(r) for r in table} == {len(table[0])}
    cells = [c for r in table for name, c in zip(table[0], r, strict=True)
             if not (name in numbers and NUMBER.fullmatch(c))]
    cells += list(frame.columns)
    cells += [c for col in frame.columns for c in frame[col]
              if not (col in numbers and NUMBER.fullmatch(c))]
    assert [c for c in cells if c.startswith(FORMULA_START)] == []
    return table, frame


# --- the writer --------------------------------------------------------------------------------

def test_cells_and_headers_are_neutralised_and_cr_lf_cells_quoted():
    columns = {name: HOSTILE for name in ["plain", *HOSTILE_NAMES]}
    text = write_csv(columns)
    table, frame = read_back(text, len(HOSTILE))
    assert table[0] == ["plain", *map(safe_cell, HOSTILE_NAMES)]
    assert [r[0] for r in table[1:]] == [safe_cell(v) for v in HOSTILE]
    assert frame["plain"].tolist() == [safe_cell(v) for v in HOSTILE]
    # every row ends CRLF; a CR or LF inside a cell is always inside quotes
    assert '"a\rb"' in text and '"a\nb"' in text and '"a\r\nb"' in text
    assert text.endswith("\r\n") and text.count("\r\n") > len(HOSTILE)


def test_number_columns_keep_numbers_and_neutralise_the_rest():
    text = write_csv({"v": ["-2.5", "1e-05", "NaN", "+Inf", "-Inf", "=1", "-1+2"]},
                     numbers=("v",))
    assert [r[0] for r in csv.reader(io.StringIO(text, newline=""))] == [
        "v", "-2.5", "1e-05", "NaN", "'+Inf", "'-Inf", "'=1", "'-1+2"]


def test_categorical_and_missing_cells():
    labels = pd.Series(["=a", None, "b\rc", "=a"], dtype="category")
    table, _ = read_back(write_csv({"l": labels, "n": [None, "x", float("nan"), "y"]}), 4)
    assert table[1:] == [["'=a", ""], ["", "x"], ["b\rc", ""], ["'=a", "y"]]


def test_header_row_matches_the_writer():
    names = ["timestamp", *HOSTILE_NAMES]
    assert header_row(names) == write_csv({n: [] for n in names})


# --- the three export paths --------------------------------------------------------------------

def hostile_entries() -> list[tuple]:
    """Lines, label values and metadata names and values a spreadsheet must not run."""
    entries = []
    for i, line in enumerate(HOSTILE * 3):
        labels = {"job": "api", "note": HOSTILE[(i + 1) % len(HOSTILE)] or "x",
                  "=evil": HOSTILE[(i + 2) % len(HOSTILE)] or "y"}
        metadata = {HOSTILE_NAMES[i % len(HOSTILE_NAMES)]: HOSTILE[(i + 3) % len(HOSTILE)]}
        entries.append((T0 + i * 1000, labels, line or "empty", metadata))
    return entries


def check_logs_csv(text: str, entries) -> None:
    table, frame = read_back(text, len(entries))
    assert {safe_cell(n) for n in HOSTILE_NAMES} <= set(table[0])
    assert sorted(frame["line"]) == sorted(safe_cell(e[2]) for e in entries)


def test_cli_export_keeps_rows_and_neutralises(tmp_path, make_loki_double, capsys):
    entries = hostile_entries()
    double = make_loki_double(entries)
    cfg = tmp_path / "stackscope.toml"
    cfg.write_text(f'[loki]\nurl = "{double.url}"\n[cache]\ndir = "{tmp_path / "cache"}"\n')
    out = tmp_path / "out.csv"
    code = app.main(["export-logs", "--config", str(cfg), "--query", '{job="api"}',
                     "--start", str(T0), "--end", str(T0 + 10**9), "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    check_logs_csv(out.read_bytes().decode("utf-8"), entries)


def test_logs_tab_export_keeps_rows_and_neutralises(write_config, make_loki_double):
    entries = hostile_entries()
    double = make_loki_double(entries)
    config = write_config(f'[loki]\nurl = "{double.url}"\n')
    state = {"from": str(T0 // 10**6), "to": str((T0 + 10**9) // 10**6), "back": []}
    req = request('{job="api"}', None, state, 100, "forward", default_limit=100)
    download, status = export_range(build_deps(config), req, exports_dir(config.cache.dir),
                                    lambda _: None)
    assert "Exported" in str(status)
    check_logs_csv(base64.b64decode(download["content"]).decode("utf-8"), entries)


@pytest.fixture
def hostile_prometheus():
    """Prometheus answering a matrix whose label names and values are hostile."""
    result = [{"metric": {"__name__": "up", "job": v or "empty", "quote": 'a "q"',
                          HOSTILE_NAMES[i % len(HOSTILE_NAMES)]: HOSTILE[-1 - i] or "z"},
               "values": [[1714564800 + 60 * k, str(k - 1.5)] for k in range(3)]}
              for i, v in enumerate(HOSTILE)]
    body = json.dumps({"status": "success",
                       "data": {"resultType": "matrix", "result": result}}).encode()
    server = RecordingUpstream({"/api/v1/query_range": body})
    server.series = len(result)
    yield server
    server.stop()


def test_panel_csv_keeps_rows_and_neutralises(write_config, hostile_prometheus):
    config = write_config(f'[prometheus]\nurl = "{hostile_prometheus.url}"\n'
                          '[[panels]]\ntitle = "Up"\nquery = "up"\n')
    dash = app.create_app(config)
    slug = panels.configured(config.panels)[0].slug
    resp = dash_calls.call(dash.server.test_client(), dash, "metrics-download.data", {
        "metrics-csv.n_clicks": 1, "metrics-width.data": 600, "metrics-query-store.data": "",
        "metrics-range-state.data": {"from": "1714564700000", "to": "1714565000000",
                                     "back": []},
    }, triggered=["metrics-csv.n_clicks"], match={"panel": slug})
    sent = next(iter(dash_calls.response_of(resp).values()))["data"]
    table, frame = read_back(sent["content"], hostile_prometheus.series * 3,
                             numbers=("value",))
    assert {safe_cell(n) for n in HOSTILE_NAMES} <= set(table[0])
    assert frame["value"].tolist()[:3] == ["-1.5", "-0.5", "0.5"]  # numbers stay numbers
    assert len(hostile_prometheus.to("/api/v1/query_range")) == 1
