"""Annotations from Prometheus frames: deploy lines, alert regions, whole-range notes."""

from __future__ import annotations

import pandas as pd

from query import annotations as notes

T0, STEP = 1_700_000_000, 60


def frame(rows):
    """rows: (t, value, {labels}) → the datasource's long frame."""
    out = []
    for t, v, labels in rows:
        series = "{" + ",".join(f'{k}="{x}"' for k, x in sorted(labels.items())) + "}"
        out.append({"timestamp": pd.Timestamp(t, unit="s", tz="UTC"), "value": v,
                    "series": series, **labels})
    return pd.DataFrame(out)


def run(labels, start, count, value=1.0):
    return [(start + i * STEP, value, labels) for i in range(count)]


def test_a_version_appearing_inside_the_range_is_a_deploy_one_present_at_the_start_is_not():
    old = {"job": "api", "version": "1.3.2"}
    new = {"job": "api", "version": "1.4.0"}
    f = frame(run(old, T0, 10) + run(new, T0 + 10 * STEP, 10))
    (deploy,) = notes.deploys(f, T0, STEP)
    assert (deploy.text, deploy.start, deploy.is_region) == ("api 1.4.0", T0 + 10 * STEP, False)


def test_each_run_of_a_firing_alert_is_a_region_ending_a_step_after_its_last_sample():
    alert = {"alertname": "LatencyP95High", "severity": "warning"}
    f = frame(run(alert, T0, 5) + run(alert, T0 + 20 * STEP, 3))
    first, second = notes.regions(f, STEP, source="alerts")
    assert (first.start, first.end, first.text, first.severity) == (
        T0, T0 + 5 * STEP, "LatencyP95High", "warning")
    assert (second.start, second.end) == (T0 + 20 * STEP, T0 + 23 * STEP)


def test_zero_values_are_not_regions_and_lines_mark_each_non_zero_point():
    f = frame([(T0, 0.0, {"x": "1"}), (T0 + STEP, 2.0, {"x": "1"}), (T0 + 2 * STEP, 0.0,
                                                                    {"x": "1"})])
    (region,) = notes.regions(f, STEP, source="mine", name_label="")
    assert (region.start, region.end, region.text) == (T0 + STEP, T0 + 2 * STEP, "mine")
    (line,) = notes.lines(f, source="mine")
    assert (line.start, line.is_region) == (T0 + STEP, False)


def test_a_region_over_the_whole_range_becomes_a_note():
    always = notes.Mark("alerts", "ErrorBudgetBurn", T0 - 100, T0 + 1000 * STEP, "warning")
    brief = notes.Mark("alerts", "LatencyP95High", T0 + 10 * STEP, T0 + 20 * STEP)
    drawn, said = notes.split_whole_range([always, brief], T0, T0 + 100 * STEP)
    assert drawn == [brief]
    assert said == ["ErrorBudgetBurn fired over the whole range (not shaded)"]


def test_no_data_no_marks():
    assert notes.deploys(pd.DataFrame(), T0, STEP) == []
    assert notes.regions(None, STEP, source="alerts") == []
