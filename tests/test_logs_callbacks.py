"""callbacks/logs.py's pure part: a run resolves its range once, or says why it cannot run."""

from __future__ import annotations

from callbacks.logs import request
from datasources.presets_logs import SEEDS

NOW = 1_714_568_400.0
STATE = {"from": "now-1h", "to": "now", "preset": "now-1h", "back": []}


def test_a_run_carries_the_range_in_nanoseconds_and_a_sane_limit():
    req = request(' {job="api"} ', None, STATE, "99999", "forward", force=True, now=NOW)
    assert req["query"] == '{job="api"}'
    assert (req["start_ns"], req["end_ns"]) == (1_714_564_800 * 10**9, 1_714_568_400 * 10**9)
    assert req["limit"] == 5000 and req["direction"] == "forward" and req["force"]
    assert request("{a=\"b\"}", None, STATE, None, "backward", now=NOW)["limit"] == 1000


def test_a_run_that_cannot_start_says_why():
    trace = next(q.query for q in SEEDS if "$request_id" in q.query)
    assert "request_id" in request(trace, "", STATE, 10, "backward", now=NOW)["error"]
    assert request(trace, "r-1", STATE, 10, "backward", now=NOW)["query"].endswith('"r-1"')
    assert "LogQL" in request("  ", None, STATE, 10, "backward", now=NOW)["error"]
    bad = {**STATE, "from": "now", "to": "now-1h"}
    assert "before" in request("{a=\"b\"}", None, bad, 10, "backward", now=NOW)["error"]
