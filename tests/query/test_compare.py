"""Time shift and the expected band: pure, on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from query import compare

DAY, STEP = 86_400, 3_600
START = 1_700_006_400  # a whole day (UTC midnight, 2023-11-15)


def frame(values: dict[str, np.ndarray], start: float, step: float = STEP) -> pd.DataFrame:
    rows = []
    for series, ys in values.items():
        for i, y in enumerate(ys):
            if np.isfinite(y):
                rows.append((pd.Timestamp(start + i * step, unit="s", tz="UTC"), y, series))
    return pd.DataFrame(rows, columns=["timestamp", "value", "series"])


def daily(days: int, rng, noise: float = 1.0) -> np.ndarray:
    """A daily wave around 100 with a little noise, hourly."""
    t = np.arange(days * 24)
    return 100 + 30 * np.sin(2 * np.pi * t / 24) + rng.normal(0, noise, t.size)


def test_a_shifted_frame_lines_up_with_the_range_it_is_compared_with():
    f = frame({"a": np.array([1.0, 2.0])}, START - DAY)
    moved = compare.shifted(f, DAY)
    assert moved["timestamp"].iloc[0] == pd.Timestamp(START, unit="s", tz="UTC")
    assert f["timestamp"].iloc[0] == pd.Timestamp(START - DAY, unit="s", tz="UTC")  # untouched


def test_a_spike_outside_the_usual_day_is_one_anomaly_and_the_rest_is_not():
    rng = np.random.default_rng(3)
    ys = daily(14, rng)
    spike = 7 * 24 + 10 * 24 // 24 * 3 + 5  # day 10, 05:00 … 07:00
    ys[spike:spike + 3] += 60
    f = frame({"a": ys}, START - 7 * DAY)
    bands = compare.expected_bands(f, START, START + 7 * DAY - STEP, STEP, days=7, mads=4)
    found = compare.anomalies(bands, STEP, min_points=2)
    assert len(found) == 1
    a = found[0]
    assert a.start == START + (spike - 7 * 24) * STEP and a.end == a.start + 3 * STEP
    assert a.direction == "above" and a.peak > a.expected + 40


def test_a_lone_point_outside_is_not_an_anomaly_unless_asked():
    rng = np.random.default_rng(4)
    ys = daily(14, rng)
    ys[8 * 24 + 12] -= 80
    f = frame({"a": ys}, START - 7 * DAY)
    bands = compare.expected_bands(f, START, START + 7 * DAY - STEP, STEP)
    assert compare.anomalies(bands, STEP, min_points=2) == []
    (one,) = compare.anomalies(bands, STEP, min_points=1)
    assert one.direction == "below" and one.end - one.start == STEP


def test_a_flat_past_does_not_make_every_wiggle_an_anomaly():
    ys = np.full(14 * 24, 50.0)
    ys[7 * 24:] += np.random.default_rng(5).normal(0, 0.5, 7 * 24)  # 1 % noise, MAD 0 before
    f = frame({"a": ys}, START - 7 * DAY)
    bands = compare.expected_bands(f, START, START + 7 * DAY - STEP, STEP)
    assert compare.anomalies(bands, STEP, min_points=1) == []


def test_points_with_too_little_past_have_no_band_and_no_anomaly():
    ys = daily(9, np.random.default_rng(6))  # two days before the range
    ys[2 * 24 + 30:2 * 24 + 35] += 500  # a spike on the range's second day: 3 past days
    f = frame({"a": ys}, START - 2 * DAY)
    (band,) = compare.expected_bands(f, START, START + 7 * DAY - STEP, STEP)
    assert np.isnan(band.median[:2 * 24]).all()  # days 1-2: two or three days of past
    assert np.isfinite(band.median[2 * 24:]).all()  # from day 3: four or more
    assert compare.anomalies([band], STEP, min_points=1) == []


def test_each_series_gets_its_own_band_and_gaps_stay_gaps():
    rng = np.random.default_rng(7)
    a, b = daily(14, rng), daily(14, rng) * 10
    b[200:210] = np.nan
    f = frame({"a": a, "b": b}, START - 7 * DAY)
    bands = compare.expected_bands(f, START, START + 7 * DAY - STEP, STEP)
    assert [x.series for x in bands] == ["a", "b"]
    assert np.nanmedian(bands[1].median) == pytest.approx(10 * np.nanmedian(bands[0].median),
                                                          rel=0.05)
    assert np.isnan(bands[1].actual[200 - 7 * 24:210 - 7 * 24]).all()


def test_a_step_that_does_not_divide_a_day_is_refused_with_a_reason():
    assert compare.band_supported(900) and compare.band_supported(DAY)
    assert not compare.band_supported(7 * 3600) and not compare.band_supported(2 * DAY)
    with pytest.raises(ValueError, match="divides a day"):
        compare.expected_bands(frame({}, START), START, START + DAY, 7 * 3600)


@pytest.mark.parametrize("value", ["off", "1d", "1w", "band"])
def test_the_offered_modes_are_accepted(value):
    assert compare.mode(value) == value


@pytest.mark.parametrize("value", ["2d", "", None, 3, ["band"], {"a": 1}])
def test_anything_else_is_refused(value):
    with pytest.raises(ValueError):
        compare.mode(value)
