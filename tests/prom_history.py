"""A known Prometheus history for tests: the OpenMetrics text to backfill and its exact values.

Three gauges sampled every minute for 31 days ending at a UTC midnight:
``demo_value{instance="a"}`` = minute index k, ``{instance="b"}`` = k / 2 and
``{instance="c"}`` = k mod 60 with no samples during day 10 (a one-day gap).
Plus a few samples ending at the same time with NaN, ±Inf and awkward label values.
"""

from __future__ import annotations

import math

DAY = 86_400
MINUTE = 60
DAYS = 31
#: Prometheus 2.x returns a sample for up to 5 minutes after it was taken.
LOOKBACK = 300

INSTANCES = ("a", "b", "c")
SPECIAL = (("nan", "NaN"), ("inf", "+Inf"), ("minus_inf", "-Inf"), ("one", "1"))
#: Label values that need escaping or are not ASCII: (label value, as written in OpenMetrics).
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


def openmetrics(end: int, *, special: bool = True) -> str:
    """The whole history as OpenMetrics text for ``promtool tsdb create-blocks-from``."""
    start = history_start(end)
    lines = ["# HELP demo_value A known test series.", "# TYPE demo_value gauge"]
    for inst in INSTANCES:
        labels = f'{{instance="{inst}",job="demo"}}'
        for t in range(start, end + 1, MINUTE):
            v = value_at(inst, t, end)
            if v is not None:
                lines.append(f"demo_value{labels} {_om_value(v)} {t}")
    if special:
        lines += _special_lines(end)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _special_lines(end: int) -> list[str]:
    times = range(end - 10 * MINUTE, end + 1, MINUTE)
    lines = ["# TYPE demo_special gauge"]
    for kind, text in SPECIAL:
        lines += [f'demo_special{{job="demo",kind="{kind}"}} {text} {t}' for t in times]
    lines.append("# TYPE demo_labels gauge")
    for i, raw in enumerate(AWKWARD):
        escaped = raw.replace("\\", "\\\\").replace('"', '\\"')
        lines += [f'demo_labels{{job="demo",path="{escaped}"}} {i} {t}' for t in times]
    return lines


def _om_value(v: float) -> str:
    return repr(v) if v != int(v) else str(int(v))
