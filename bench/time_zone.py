"""What drawing a Metrics chart in another zone costs: a figure built in UTC (baseline),
then the same figure sent for another zone's clock (``layouts.time_axis.localized``).

A chart at the point budget (``query.chart.POINT_BUDGET``: 100 series of 600 points, a 7 d
range across a daylight-saving change), with annotation shapes; the median of repeated runs
in this process, so the ratio compares like with like.

    python bench/time_zone.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from layouts import chart_extras, time_axis  # noqa: E402
from layouts import metrics as view  # noqa: E402
from query.annotations import Mark  # noqa: E402
from query.timerange import plan  # noqa: E402

SERIES, POINTS, RUNS = 100, 600, 15
END = pd.Timestamp("2026-03-31T00:00Z").timestamp()  # the week holds Europe's spring change
CASES = (("Europe/Paris", "UTC"), ("UTC", "America/New_York"), ("Asia/Kolkata", "Asia/Kolkata"))


def frame(window) -> pd.DataFrame:
    t = np.arange(window.start, window.end + 1, window.step)[:POINTS]
    rng = np.random.default_rng(7)
    names = [f"s{i}" for i in range(SERIES)]
    return pd.DataFrame({
        "timestamp": pd.to_datetime(np.tile(t, SERIES), unit="s", utc=True),
        "value": rng.random(SERIES * len(t)),
        "series": pd.Categorical(np.repeat(names, len(t)), categories=names),
    })


def timed(build) -> float:
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        build()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    window = plan(END - 7 * 86400, END, max_data_points=POINTS - 1)
    data = frame(window)
    marks = [Mark("deploys", f"v{i}", window.start + i * 3600) for i in range(20)]

    def utc():
        fig, _ = view.figure(data, window)
        return chart_extras.with_marks(fig, marks)

    base = timed(utc)
    points = sum(1 for _ in range(SERIES)) * POINTS
    print(f"{SERIES} series x {POINTS} points ({points:,}), 20 annotations, median of {RUNS}")
    print(f"  baseline: figure in UTC for a UTC browser  {base * 1000:7.1f} ms")
    for zone, browser in CASES:
        took = timed(lambda z=zone, b=browser: time_axis.localized(utc(), z, b))
        print(f"  {zone} for a {browser} browser".ljust(45)
              + f"{took * 1000:7.1f} ms  {took / base:5.2f}x the baseline")


if __name__ == "__main__":
    main()
