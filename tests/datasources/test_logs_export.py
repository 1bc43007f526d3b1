"""CSV export: column order, exact times, spreadsheet safety, redaction, progress and cancel."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter

import pandas as pd
import pytest

from config import Upstream
from datasources.cache import Cache
from datasources.logs_export import export_csv, progress_fraction, rfc3339
from datasources.loki import Loki
from datasources.loki_frame import frame_from_response
from query.csv_safe import apply_redaction, safe_cell
from query.logql import stream_name

# The Loki double's fixtures (loki_double, make_loki_double).

T0 = 1_714_564_800 * 10**9


def page(entries, stream, categorized=True) -> pd.DataFrame:
    """A frame from a streams body: entries are [ts, line] or [ts, line, metadata]."""
    result = [{"stream": stream, "values": [[str(e[0]), *e[1:]] for e in entries]}]
    data = {"resultType": "streams", "result": result}
    if categorized:
        data["encodingFlags"] = ["categorize-labels"]
    return frame_from_response({"status": "success", "data": data})


def read(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def header_of(path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def test_columns_discovered_on_a_later_page_join_the_header_in_order(tmp_path):
    json_line = '{"level":"error","message":"boom","request_id":"r1","timestamp":"x"}'
    pages = [
        page([[T0, "plain"]], {"app": "api"}),
        page([[T0 + 1, json_line, {"structuredMetadata": {"trace_id": "t1"}}]], {"app": "api"}),
        page([[T0 + 2, "late", {"parsed": {"status": "500"}}]], {"app": "web", "zone": "z"}),
    ]
    summary = export_csv(pages, tmp_path / "out.csv")
    assert header_of(tmp_path / "out.csv") == [
        "timestamp", "app", "zone", "trace_id", "status", "line", "level", "json_timestamp",
        "message", "request_id"]
    assert summary.columns == tuple(header_of(tmp_path / "out.csv")) and summary.rows == 3
    rows = read(tmp_path / "out.csv")
    assert [r["line"] for r in rows] == ["plain", json_line, "late"]
    assert rows[0]["trace_id"] == "" and rows[1]["trace_id"] == "t1"
    assert [r["zone"] for r in rows] == ["", "", "z"]
    assert [r["level"] for r in rows] == ["unknown", "error", "unknown"]
    assert rows[1]["message"] == "boom" and rows[2]["status"] == "500"


def test_level_is_one_column_on_one_scale_whatever_carried_it(tmp_path):
    pages = [
        page([[T0, '{"level":"WARN","message":"a"}']], {"app": "api", "level": "warn"}),
        page([[T0 + 1, '{"level":"wrn","message":"b"}', {"structuredMetadata": {
            "detected_level": "warn"}}]], {"app": "api"}),
        page([[T0 + 2, "plain", {"parsed": {"level": "crit"}}]], {"app": "web"}),
    ]
    export_csv(pages, tmp_path / "out.csv")
    assert header_of(tmp_path / "out.csv") == ["timestamp", "app", "line", "level", "message"]
    assert [r["level"] for r in read(tmp_path / "out.csv")] == ["warning", "warning",
                                                                "critical"]


def test_timestamps_are_rfc3339_exact_to_the_nanosecond(tmp_path):
    stamps = [1_645_030_244_810_757_120, 1_714_564_800_000_000_001, 123_456_789_012_345]
    export_csv([page([[t, f"l{i}"] for i, t in enumerate(stamps)], {"a": "b"})],
               tmp_path / "t.csv")
    written = [r["timestamp"] for r in read(tmp_path / "t.csv")]
    assert written == ["1970-01-02T10:17:36.789012345Z", "2022-02-16T16:50:44.810757120Z",
                       "2024-05-01T12:00:00.000000001Z"]
    assert [pd.Timestamp(w).value for w in written] == sorted(stamps)
    assert rfc3339([0]).tolist() == ["1970-01-01T00:00:00.000000000Z"]


@pytest.mark.parametrize(("text", "safe"), [
    ("=1+2", "'=1+2"), ("+cmd", "'+cmd"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=1", "a=1"), ("", ""), ("'quoted", "'quoted")])
def test_safe_cell(text, safe):
    assert safe_cell(text) == safe


def test_formula_cells_are_neutralised_in_lines_labels_and_fields(tmp_path):
    pages = [page([[T0, '=HYPERLINK("http://x")'], [T0 + 1, '{"message":"@risky"}'],
                   [T0 + 2, "-- fine?"], [T0 + 3, "ok"]], {"app": "+evil"})]
    export_csv(pages, tmp_path / "f.csv")
    rows = read(tmp_path / "f.csv")
    assert [r["line"] for r in rows] == ["'=HYPERLINK(\"http://x\")", '{"message":"@risky"}',
                                         "'-- fine?", "ok"]
    assert {r["app"] for r in rows} == {"'+evil"}
    assert rows[1]["message"] == "'@risky"


def test_redaction_rules_from_config_apply_to_view_and_export(tmp_path, write_config):
    config = write_config(r'''
        [[redact]]
        pattern = 'password=[^"\s]+'
        replacement = "password=***"
        [[redact]]
        pattern = '\b\d{4}-\d{4}-\d{4}-\d{4}\b'
    ''')
    line = '{"message":"card 1234-5678-9012-3456 password=hunter2"}'
    assert apply_redaction(line, config.redact) == (
        '{"message":"card [REDACTED] password=***"}')
    view = apply_redaction(pd.Series([line, "clean"], dtype="str"), config.redact)
    assert view.tolist() == [apply_redaction(line, config.redact), "clean"]
    export_csv([page([[T0, line]], {"app": "api"})], tmp_path / "r.csv", redact=config.redact)
    row = read(tmp_path / "r.csv")[0]
    assert row["line"] == view.iloc[0]
    assert row["message"] == "card [REDACTED] password=***"


def test_redaction_accepts_pairs_and_rejects_bad_patterns():
    assert apply_redaction("token=abc", [(r"token=(\w)\w*", r"token=\1…")]) == "token=a…"
    with pytest.raises(ValueError, match="not a valid regex"):
        apply_redaction("x", [("(", "y")])


def test_quotes_newlines_and_unicode_round_trip(tmp_path):
    lines = ['say "hi", then\nleave', "moon🌙 ünïcode", 'a,b,"c"']
    export_csv([page([[T0 + i, line] for i, line in enumerate(lines)], {"code": '",two'})],
               tmp_path / "u.csv")
    rows = read(tmp_path / "u.csv")
    assert [r["line"] for r in rows] == lines and rows[0]["code"] == '",two'


def test_progress_after_each_page_and_fraction(tmp_path):
    seen = []
    pages = [page([[T0 + i * 10 + j, "x"] for j in range(3)], {"a": "b"}) for i in range(4)]
    export_csv(pages, tmp_path / "p.csv", progress=lambda rows, ns: seen.append((rows, ns)))
    assert seen == [(3, T0 + 2), (6, T0 + 12), (9, T0 + 22), (12, T0 + 32)]
    assert progress_fraction(T0 + 25, T0, T0 + 100) == 0.25
    assert progress_fraction(T0 + 25, T0, T0 + 100, "backward") == 0.75
    assert progress_fraction(None, T0, T0 + 100) == 0.0


def test_cancel_stops_the_pager_and_leaves_no_file(make_loki_double, tmp_path):
    entries = [(T0 + i, {"app": "api"}, f"line {i}") for i in range(5_000)]
    double = make_loki_double(entries)
    loki = Loki(Upstream("Loki", double.url, 10.0, 30.0), Cache(tmp_path / "cache"))
    pages_written = []
    summary = export_csv(loki.query_range_all('{app="api"}', T0, T0 + 10**6, page_size=500),
                         tmp_path / "c.csv",
                         progress=lambda rows, ns: pages_written.append(rows),
                         cancelled=lambda: len(pages_written) >= 2)
    # Page 2 asks for its first instant again (the last of page 1), so it adds 499.
    assert summary.cancelled and summary.path is None and pages_written == [500, 999]
    assert len([r for r in double.requests if r["path"].endswith("query_range")]) == 3
    assert list(tmp_path.glob("c.csv*")) == [] and list(tmp_path.glob(".export-spool*")) == []


def test_empty_export_writes_the_header(tmp_path):
    summary = export_csv([], tmp_path / "e.csv")
    assert summary.rows == 0 and header_of(tmp_path / "e.csv") == ["timestamp", "line"]


def test_export_to_an_open_file():
    buffer = io.StringIO()
    summary = export_csv([page([[T0, "x"]], {"a": "b"})], buffer)
    assert buffer.getvalue().splitlines()[0] == "timestamp,a,line,level"
    assert summary.rows == 1


def test_metric_pages_are_refused(tmp_path):
    matrix = frame_from_response({"status": "success", "data": {"resultType": "matrix",
                                                                "result": []}})
    matrix.loc[0] = [pd.Timestamp(T0, tz="UTC"), 1.0, "{}"]
    with pytest.raises(ValueError, match="only log queries"):
        export_csv([matrix], tmp_path / "m.csv")


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_whole_range_export_has_every_entry_exactly_once(direction, make_loki_double, tmp_path):
    rng = random.Random(3)
    streams = [{"app": "api", "pod": str(i)} for i in range(3)] + [{"app": "worker"}]
    entries, t = [], T0
    while len(entries) < 21_000:
        for _ in range(rng.randint(1, 30)):
            stream = rng.choice(streams)
            line = rng.choice(['{"level":"info","message":"ok","user_id":"7"}',
                               "=cmd|' /C calc'!A0", "plain words", "same line"])
            entries.append((t, stream, line, {"trace_id": "t"} if rng.random() < .1 else None))
        t += rng.randint(1, 2_000)
    double = make_loki_double(entries, shuffle_ties=True)
    loki = Loki(Upstream("Loki", double.url, 10.0, 30.0), Cache(tmp_path / "cache"))
    summary = export_csv(loki.query_range_all('{app=~".+"}', T0, t, direction=direction,
                                              page_size=1_500), tmp_path / "all.csv")
    rows = read(tmp_path / "all.csv")
    assert summary.rows == len(rows) == len(entries)
    got = Counter((r["timestamp"], r["app"], r["pod"], r["line"]) for r in rows)
    want = Counter((rfc3339([e[0]])[0], e[1]["app"], e[1].get("pod", ""), safe_cell(e[2]))
                   for e in entries)
    assert got == want
    assert {stream_name(s) for s in streams} and "trace_id" in summary.columns
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps, reverse=direction == "backward")
