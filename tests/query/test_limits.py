"""query/limits.py and query/rate_limit.py: intents clamped or refused; budgets per session."""

from __future__ import annotations

import math
import re

import pytest

from query import limits
from query import range_state as rp
from query.limits import Rejected
from query.rate_limit import Limit, RateLimiter, exports_ahead, wait_text
from query.timerange import parse_time_ns, resolve_one

T0 = 1_714_564_800 * 10**9
REQ = {"at": 1.0, "force": True, "live": False, "direction": "forward", "limit": 100,
       "query": '{a="b"}', "start_ns": T0, "end_ns": T0 + 3600 * 10**9}


def checked(**fields):
    return limits.logs_request({**REQ, **fields}, max_limit=500, max_range=86400)


@pytest.mark.parametrize(("limit", "clamped"), [
    (10**9, 500), (10**400, 500), (-5, 1), (0, 1), (2.7, 2), ("42", 42), ("lots", 500),
    (None, 500), (math.nan, 500), (math.inf, 500), (True, 500)])
def test_a_limit_is_clamped_into_one_to_the_configured_most(limit, clamped):
    assert checked(limit=limit)["limit"] == clamped


@pytest.mark.parametrize(("fields", "words"), [
    ({"start_ns": "9" * 400}, "start_ns"), ({"end_ns": 10**400}, "out of range"),
    ({"start_ns": -1}, "out of range"), ({"end_ns": math.nan}, "end_ns"),
    ({"start_ns": True}, "start_ns"), ({"end_ns": T0}, "must be before"),
    ({"end_ns": T0 + 2 * 86400 * 10**9}, "2d is longer than the 1d allowed (logs.max_range)"),
    ({"direction": "up"}, "direction"), ({"query": 5}, "expected text"),
    ({"query": "  "}, "no query"), ({"query": "x" * 30_000}, "too long"),
])
def test_a_forged_request_is_refused_with_a_reason(fields, words):
    with pytest.raises(Rejected, match=re.escape(words)):
        checked(**fields)


def test_only_a_true_force_forces_and_errors_pass_as_text():
    assert checked(force=True)["force"] and not checked(force="yes")["force"]
    assert limits.logs_request({"error": "bad"}, max_limit=1, max_range=1)["error"] == "bad"
    with pytest.raises(Rejected, match="expected text"):
        limits.logs_request({"error": ["x"]}, max_limit=1, max_range=1)
    with pytest.raises(Rejected, match="expected an object"):
        limits.logs_request([1], max_limit=1, max_range=1)


@pytest.mark.parametrize(("width", "points"), [
    (800, 800), (1e6, 4000), (math.inf, 1000), (10**400, 1000), (-300, 1000), (math.nan, 1000),
    ("wide", 1000), (None, 1000), (0, 1000), (10, 100), ("640", 640), (True, 1000)])
def test_points_follow_the_width_within_bounds(width, points):
    # A width is a measurement: one that is not a finite positive number is unknown.
    assert limits.points(width, fallback=1000, lo=100, hi=4000) == points


def test_numbers_and_texts():
    assert limits.number("2.5", "x") == 2.5
    for bad in ("nan", "1e999", True, None, [1], "9" * 400):
        with pytest.raises(Rejected):
            limits.number(bad, "x")
    assert limits.text(None, "t") == "" and limits.optional_text(None, "t") is None
    assert limits.texts(["a", "b"], "t") == ["a", "b"]
    for bad in ([1], "a", [["a"]]):
        with pytest.raises(Rejected):
            limits.texts(bad, "t")


# --- times and range states --------------------------------------------------------------------

@pytest.mark.parametrize("text", ["9" * 400, "9" * 60, "now-99999999999999999999999d",
                                  "99999-01-01", "2300-01-01T00:00:00Z"])
def test_times_far_out_of_range_are_a_value_error_not_an_overflow(text):
    with pytest.raises(ValueError, match=r"out of range|not 'now'"):
        resolve_one(text, 1.7e9)
    with pytest.raises(ValueError):
        parse_time_ns(text, 1.7e9)


@pytest.mark.parametrize("state", [
    None, [], "now-1h", {"to": "now"}, {"from": 5, "to": "now"}, {"from": "x" * 65, "to": "now"},
    {"from": "now-1h", "to": "now", "back": "x"}, {"from": "now-1h", "to": "now", "back": [[1]]},
    {"from": "now-1h", "to": "now", "back": [["a", "b"]] * 21},
])
def test_a_malformed_range_state_is_rejected(state):
    with pytest.raises(Rejected):
        rp.checked(state)


def test_a_good_range_state_is_kept():
    state = {"from": "now-6h", "to": "now", "preset": "now-6h", "back": [["now-1h", "now"]]}
    assert rp.checked(state) == state
    assert rp.checked({"from": "now-1h", "to": "now"})["preset"] == rp.DEFAULT_FROM


@pytest.mark.parametrize("relayout", [
    [1], "x", {"xaxis.range[0]": "garbage", "xaxis.range[1]": "2024-01-01"},
    {"xaxis.range[0]": 1e999, "xaxis.range[1]": 0}, {"xaxis.range": [True, 5]},
    {"xaxis.range[0]": "9999-12-31 00:00:00", "xaxis.range[1]": 0}, {"xaxis.range": [1]},
])
def test_an_unreadable_zoom_is_no_zoom(relayout):
    assert rp.zoom_from_relayout(relayout) is None


# --- rate limits ---------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_a_bucket_allows_a_burst_then_one_per_interval():
    clock = Clock()
    limiter = RateLimiter(now=clock)
    per_minute = Limit(3, 60)
    assert [limiter.take("s", per_minute) for _ in range(3)] == [0, 0, 0]
    assert limiter.take("s", per_minute) == pytest.approx(20)
    assert limiter.take("other", per_minute) == 0  # sessions do not share
    clock.t += 20
    assert limiter.take("s", per_minute) == 0
    assert limiter.take("s", per_minute) == pytest.approx(20)


def test_forgotten_sessions_are_bounded():
    limiter = RateLimiter(now=Clock(), max_keys=3)
    for key in range(10):
        limiter.take(key, Limit(1, 60))
    assert len(limiter._buckets) == 3


def test_wait_text_rounds_up():
    assert (wait_text(0.2), wait_text(4.01)) == ("1 s", "5 s")


def test_exports_ahead_counts_running_and_earlier_waiting():
    states = {1: "running", 2: "waiting", 3: "running", 5: "waiting", 7: "waiting"}
    assert [exports_ahead(states, t) for t in (2, 5, 7)] == [2, 3, 4]
    assert exports_ahead({4: "waiting"}, 4) == 0


@pytest.mark.parametrize("typed", [0, -3, 5001, 2.5, "abc", "1e999", True, [5]])
def test_a_typed_limit_out_of_range_says_the_allowed_range(typed):
    assert limits.limit_problem(typed, 5000) == "limit must be a whole number from 1 to 5,000"


@pytest.mark.parametrize("typed", [None, "", 1, 5000, "250", 7.0])
def test_a_typed_limit_in_range_or_empty_is_fine(typed):
    assert limits.limit_problem(typed, 5000) is None
