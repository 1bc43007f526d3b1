"""A known Prometheus history for tests: the OpenMetrics text to backfill and its exact values.

Three gauges sampled every minute for 31 days ending at a UTC midnight:
``demo_value{instance="a"}`` = minute index k, ``{instance="b"}`` = k / 2 and
``{instance="c"}`` = k mod 60 with no samples during day 10 (a one-day gap).
Plus a few samples ending at the same time with NaN, ±Inf and awkward label values.
"""

from __future__ import annotations

import math

import numpy as np

from stack import openmetrics as om
from stack.openmetrics import Family, Series

DAY = 86_400
MINUTE = 60
DAYS = 31
#: Prometheus 2.x returns a sample for up to 5 minutes after it was taken.
LOOKBACK = 300

INSTANCES = ("a", "b", "c")
SPECIAL = (("nan", "NaN"), ("inf", "+Inf"), ("minus_inf", "-Inf"), ("one", "1"))
#: Label values that need escaping or are not ASCII.
AWKWARD = ('say "hi"', "Zürich ☃", "back\\slash")


def history_end(now: float) -> int:
    """The last sample's time: the UTC midnight before ``now`` (whole days keep steps simple)."""
    return math.floor(now / DAY) * DAY


def history_start(end: int) -> int:
    """The first sample's time."""
    return end - DAYS * DAY


def gap(end: int) -> tuple[int, int]:
    """[from, to) where instance "c" has no samples."""
    start = history_start(end)
    return start + 10 * DAY, start + 11 * DAY


def value_at(instance: str, t: int, end: int) -> float | None:
    """The sample taken at ``t`` (a minute boundary), or None where there is none."""
    start = history_start(end)
    if t < start or t > end or (t - start) % MINUTE:
        return None
    k = (t - start) // MINUTE
    if instance == "a":
        return float(k)
    if instance == "b":
        return k / 2
    lo, hi = gap(end)
    return None if lo <= t < hi else float(k % 60)


def expected_at(instance: str, t: float, end: int) -> float | None:
    """What an instant evaluation at ``t`` returns: the latest sample at most 5 minutes old."""
    last = math.floor(t / MINUTE) * MINUTE
    for s in range(last, last - LOOKBACK - 1, -MINUTE):
        if t - s <= LOOKBACK and (v := value_at(instance, s, end)) is not None:
            return v
    return None


def families(end: int, *, special: bool = True) -> list[Family]:
    """The whole history: ``demo_value``, and with ``special`` the NaN/±Inf and label samples."""
    times = np.arange(history_start(end), end + 1, MINUTE)
    demo = Family("demo_value", "gauge", "A known test series.")
    for inst in INSTANCES:
        values = [value_at(inst, int(t), end) for t in times]
        kept = [v is not None for v in values]
        demo.series.append(Series("demo_value", {"instance": inst, "job": "demo"}, times[kept],
                                  np.array([v for v in values if v is not None])))
    return [demo, *_special_families(end)] if special else [demo]


def _special_families(end: int) -> list[Family]:
    times = np.arange(end - 10 * MINUTE, end + 1, MINUTE)

    def constant(value: float) -> np.ndarray:
        return np.full(len(times), value)

    return [Family("demo_special", "gauge", None, [
                Series("demo_special", {"job": "demo", "kind": kind}, times, constant(float(text)))
                for kind, text in SPECIAL]),
            Family("demo_labels", "gauge", None, [
                Series("demo_labels", {"job": "demo", "path": raw}, times, constant(i))
                for i, raw in enumerate(AWKWARD)])]


def openmetrics(end: int, *, special: bool = True) -> str:
    """The whole history as OpenMetrics text for ``promtool tsdb create-blocks-from``."""
    return om.openmetrics(families(end, special=special))
