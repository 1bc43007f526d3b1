"""``python app.py export-logs`` against the Loki test double: exact CSV, progress, exit codes."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import app
from datasources.export_job import Progress
from datasources.logs_export import rfc3339
from export_cli import StderrProgress, progress_line, resolve_range
from query.timerange import parse_time_ns

REPO = Path(__file__).resolve().parents[1]
T0 = 1_714_564_800 * 10**9  # 2024-05-01T12:00:00Z
NOW = 1_714_568_400.0  # an hour later
STREAMS = [{"job": "backend", "pod": f"backend-{i}"} for i in range(3)] + [{"job": "nginx"}]


# --- times ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "ns"), [
    ("2024-05-01T12:00:00Z", T0),
    ("2024-05-01T12:00:00.000000123Z", T0 + 123),
    ("2024-05-01T12:00:00.5Z", T0 + 500_000_000),
    ("2024-05-01T14:00:00.000000001+02:00", T0 + 1),
    ("2024-05-01 12:00:00", T0),  # naive means UTC
    ("1714564800", T0),  # epoch seconds
    ("1714564800.25", T0 + 250_000_000),
    ("1714564800123", T0 + 123_000_000),  # epoch milliseconds
    ("1714564800123456", T0 + 123_456_000),  # epoch microseconds
    ("1714564800123456789", T0 + 123_456_789),  # epoch nanoseconds
    ("now", round(NOW * 1e9)),
    ("now-1h", T0),
    ("2024-05-01", T0 - 12 * 3600 * 10**9),  # a date: midnight UTC, via timerange
])
def test_times_parse_to_exact_nanoseconds(text, ns):
    assert parse_time_ns(text, NOW) == ns


@pytest.mark.parametrize("text", ["yesterday", "now-1x", "1714564800123.5", ""])
def test_unreadable_times_raise_value_error(text):
    with pytest.raises(ValueError):
        parse_time_ns(text, NOW)


def test_range_must_run_forwards():
    assert resolve_range("now-1h", "now", NOW) == (T0, round(NOW * 1e9))
    with pytest.raises(ValueError, match="must be before"):
        resolve_range("now", "now-1h", NOW)


def test_progress_line_names_rows_pages_rate_and_position():
    p = Progress(rows=12_000, pages=3, current_ns=T0 + 5, elapsed=2.0, fraction=0.4)
    assert progress_line(p) == ("12,000 rows  3 pages  6,000 rows/s  at "
                                "2024-05-01T12:00:00.000000005Z  (40%)")
    # The position is written as the CSV's timestamp column writes it.
    for ns in (T0, T0 + 123_456_789, 0):
        at = progress_line(Progress(current_ns=ns)).split("  at ")[1].split()[0]
        assert at == rfc3339(ns)


def test_progress_on_a_pipe_is_one_line_per_second_plus_the_last():
    out, clock = io.StringIO(), iter([0.0, 0.4, 1.2, 1.3]).__next__
    show = StderrProgress(out, clock=clock)
    for rows in (1, 2, 3, 4):
        show(Progress(rows=rows, pages=rows, elapsed=1.0))
    show.done(Progress(rows=5, pages=5, elapsed=1.0))
    assert [line.split()[0] for line in out.getvalue().splitlines()] == ["1", "3", "5"]


# --- the command against the double ----------------------------------------------------------

def entries_with_hard_cases() -> list[tuple]:
    """22 000+ entries: clusters of equal timestamps, a 1 500-entry instant, shared lines."""
    entries, t, n = [], T0 + 10**9, 0
    while n < 20_000:
        for k in range(1 + n % 37):  # clusters of 1–37 entries at one nanosecond
            stream = STREAMS[(n + k) % len(STREAMS)]
            entries.append((t, stream, f'{{"level":"info","message":"req {n + k}"}}'))
        n += 1 + n % 37
        t += 1 + (n % 5) * 1_000
    burst = t + 10**6
    entries += [(burst, STREAMS[i % 4], f"burst {i}") for i in range(1_500)]
    entries += [(burst + 1, s, "=SUM(A1) same line, two streams") for s in STREAMS[:2]]
    entries.append((T0 + 3600 * 10**9, STREAMS[0], "at the exclusive end: not exported"))
    return entries


@pytest.fixture(scope="module")
def hard_entries():
    return entries_with_hard_cases()


def config_file(tmp_path, url: str) -> str:
    path = tmp_path / "stackscope.toml"
    path.write_text(f'[loki]\nurl = "{url}"\n[cache]\ndir = "{tmp_path / "cache"}"\n')
    return str(path)


def export(tmp_path, url, *extra, query='{job=~".+"}', start="2024-05-01T12:00:00Z",
           end="2024-05-01T13:00:00Z"):
    out = tmp_path / "out.csv"
    argv = ["export-logs", "--config", config_file(tmp_path, url), "--query", query,
            "--start", start, "--end", end, "--output", str(out), *extra]
    return app.main(argv), out


def exported(path: Path) -> Counter:
    with open(path, newline="", encoding="utf-8") as fh:
        return Counter((r["timestamp"], r["job"], r["pod"], r["line"])
                       for r in csv.DictReader(fh))


def wanted(entries, end_ns=T0 + 3600 * 10**9) -> Counter:
    def cell(line):
        return "'" + line if line.startswith("=") else line
    return Counter((rfc3339(t), s["job"], s.get("pod", ""), cell(line))
                   for t, s, line in entries if T0 <= t < end_ns)


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_export_writes_every_entry_of_the_range_exactly_once(
        tmp_path, make_loki_double, hard_entries, capsys, direction):
    double = make_loki_double(hard_entries)
    code, out = export(tmp_path, double.url, "--direction", direction,
                       "--limit-per-page", "1000")
    err = capsys.readouterr().err
    assert code == 0, err
    assert exported(out) == wanted(hard_entries)
    assert sum(wanted(hard_entries).values()) > 21_000
    assert "pages" in err and "rows/s" in err and "at 2024-05-01T12:" in err
    assert f"wrote {sum(wanted(hard_entries).values()):,} rows" in err
    assert not list(tmp_path.glob("out.csv.*"))


def test_loki_down_exits_1_with_the_reason_and_leaves_no_file(tmp_path, closed_port, capsys):
    code, out = export(tmp_path, f"http://127.0.0.1:{closed_port}")
    err = capsys.readouterr().err
    assert code == 1
    assert "Loki unreachable: connection refused" in err
    assert not out.exists()


def test_rejected_query_exits_1_with_lokis_words(tmp_path, make_loki_double, capsys):
    double = make_loki_double([(T0 + 1, STREAMS[0], "x")])
    code, _ = export(tmp_path, double.url, query='{job="backend')
    assert code == 1
    assert "parse error at line 1, col 6: literal not terminated" in capsys.readouterr().err


def test_bad_times_exit_2(tmp_path, make_loki_double, capsys):
    double = make_loki_double([])
    code, out = export(tmp_path, double.url, start="yesterday")
    assert code == 2
    assert "'yesterday'" in capsys.readouterr().err
    assert not out.exists()


def test_cli_reads_loki_url_from_environment_and_never_prints_a_traceback(
        tmp_path, make_loki_double):
    double = make_loki_double([(T0 + i, STREAMS[i % 4], f"entry {i}") for i in range(50)])
    env = {**os.environ, "STACKSCOPE_LOKI_URL": double.url,
           "STACKSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("STACKSCOPE_CONFIG", None)
    # Run from an empty directory so no ./stackscope.toml is picked up.
    base = [sys.executable, str(REPO / "app.py"), "export-logs", "--query", '{job=~".+"}',
            "--start", str(T0), "--end", "now", "--output", str(tmp_path / "env.csv")]
    ok = subprocess.run(base, cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert len(exported(tmp_path / "env.csv")) == 50
    bad = subprocess.run([*base[:3], "--query", "{}"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "required" in bad.stderr
    assert "Traceback" not in ok.stderr + bad.stderr
