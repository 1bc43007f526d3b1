"""Incidents from hand-written probe histories: flapping, ongoing, gaps, clean recovery."""

from __future__ import annotations

import pytest

from query.incidents import (
    Incident,
    Probe,
    Run,
    csv_columns,
    down_since,
    duration_text,
    incidents,
    runs_from_probes,
)

GAP = 60.0
T = 1_800_000_000.0


def probes(name, *states, start=T, every=5.0, detail="connection refused"):
    """One probe every ``every`` s in the given states ('u' up, 'd' down, 'p' pending)."""
    word = {"u": "up", "d": "down", "p": "pending", "m": "maintenance"}
    return [Probe(name, start + i * every, word[s], None, detail if s == "d" else "ok")
            for i, s in enumerate(states)]


def found(ps, now):
    return incidents(runs_from_probes(ps, GAP), now=now, gap=GAP)


def test_an_outage_that_recovered_ends_at_the_first_probe_that_did_not_fail():
    [inc] = found(probes("redis", *"uuddddu"), now=T + 100)
    assert (inc.start, inc.end, inc.last, inc.probes) == (T + 10, T + 30, T + 25, 4)
    assert not inc.ongoing and not inc.unobserved_end
    assert inc.duration(now=T + 1000) == 20
    assert inc.detail == "connection refused"


def test_flapping_gives_one_incident_per_failing_run_newest_first():
    found_ = found(probes("api", *"ududdu"), now=T + 30)
    assert [(i.start, i.end) for i in found_] == [(T + 15, T + 25), (T + 5, T + 10)]


def test_a_run_still_failing_now_is_ongoing_and_lasts_until_now():
    [inc] = found(probes("loki", *"udd"), now=T + 20)
    assert inc.ongoing and inc.end is None
    assert inc.duration(now=T + 65) == 60


def test_a_gap_in_history_ends_what_was_observed_and_splits_the_outage():
    # down, then stackscope off for an hour, then still down and finally up again
    before = probes("nginx", *"udd")
    after = probes("nginx", *"ddu", start=T + 3600)
    [second, first] = found(before + after, now=T + 3700)
    assert first.end is None and not first.ongoing and first.unobserved_end
    assert first.duration(now=T + 3700) == 5  # at least: first to last failing probe seen
    assert (second.start, second.end) == (T + 3600, T + 3610)


def test_a_last_failing_run_older_than_the_gap_is_not_ongoing():
    [inc] = found(probes("redis", *"ud"), now=T + 5 + GAP + 1)
    assert inc.unobserved_end


def test_pending_and_maintenance_are_not_outages_and_end_one():
    [inc] = found(probes("api", *"ppddm"), now=T + 25)
    assert (inc.start, inc.end) == (T + 10, T + 20)


def test_services_are_kept_apart_and_the_limit_keeps_the_newest():
    ps = probes("a", *"dduu") + probes("b", *"uudd", start=T + 1)
    assert [i.name for i in incidents(runs_from_probes(ps, GAP), now=T + 20, gap=GAP)] == [
        "b", "a"]
    assert [i.name for i in incidents(runs_from_probes(ps, GAP), now=T + 20, gap=GAP,
                                      limit=1)] == ["b"]


def test_runs_fold_consecutive_probes_of_one_state():
    runs = runs_from_probes(probes("x", *"uudu"), GAP)
    assert [(r.state, r.start, r.last, r.probes) for r in runs] == [
        ("up", T, T + 5, 2), ("down", T + 10, T + 10, 1), ("up", T + 15, T + 15, 1)]


def test_down_since_is_the_start_of_a_failing_newest_run_only():
    assert down_since(Run("x", "down", T, T + 50)) == T
    assert down_since(Run("x", "up", T, T + 50)) is None
    assert down_since(None) is None


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (59.9, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"),
    (3660 + 240, "1 h 5 min"), (86400, "1 d"), (90000, "1 d 1 h"), (-5, "0 s"),
])
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


def test_csv_columns_say_ongoing_and_unobserved_ends():
    rows = [Incident("a", T, None, T + 5, "=cmd", 2, True),
            Incident("b", T, None, T + 5, "x", 2, False),
            Incident("c", T, T + 30, T + 25, "x", 5, False)]
    cols = csv_columns(rows, now=T + 60, clock=lambda t: f"t{t - T:.0f}")
    assert cols["end_utc"] == ["ongoing", "not observed (history gap)", "t30"]
    assert cols["duration_s"] == ["60", "5", "30"]
