"""Status callbacks' server side: the 24 h store read defensively, the incidents CSV."""

from __future__ import annotations

import base64
import csv
import io
import time

from callbacks import build_deps
from callbacks.status import EXPANDED_MAX, card_history, incidents_csv
from datasources.history import ProbeHistory
from datasources.probes import ProbeResult

T0 = 1_800_000_000.0


def two_services(write_config):
    return write_config("""
[[services]]
name = "api"
kind = "tcp"
port = 1

[[services]]
name = "db"
kind = "tcp"
port = 2
""")


def down(name, at, detail):
    return ProbeResult(name, "tcp", "tcp://127.0.0.1:1", "", False, None, detail, at)


def up(name, at):
    return ProbeResult(name, "tcp", "tcp://127.0.0.1:1", "", True, 1.0, "connected", at)


def test_a_forged_expanded_store_reads_only_configured_services(write_config):
    deps = build_deps(two_services(write_config))
    history = card_history(deps, [{"x": 1}, "nope", "db", 5] + ["api"] * 50, now=T0)
    assert set(history.day) == {"api", "db"} and len(history.day) <= EXPANDED_MAX


def test_incidents_csv_is_spreadsheet_safe_and_newest_first(write_config, tmp_path):
    deps = build_deps(two_services(write_config))
    t0 = T0
    history = deps.status.history = ProbeHistory(tmp_path / "h.sqlite3", now=lambda: t0 + 10)
    history.record([down("api", t0, "=HYPERLINK(\"http://x\")"), up("db", t0)])
    history.record([up("api", t0 + 5), down("db", t0 + 5, "refused")])
    sent = incidents_csv(deps, now=t0 + 10)
    assert sent["filename"].startswith("stackscope-incidents-") and sent["type"] == "text/csv"
    text = sent["content"] if not sent.get("base64") else base64.b64decode(
        sent["content"]).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))  # noqa: E731
    assert [(r["service"], r["start_utc"], r["end_utc"], r["detail"]) for r in rows] == [
        ("db", stamp(t0 + 5), "ongoing", "refused"),
        ("api", stamp(t0), stamp(t0 + 5), "'=HYPERLINK(\"http://x\")"),
    ]
    assert [r["duration_s"] for r in rows] == ["5", "5"]
