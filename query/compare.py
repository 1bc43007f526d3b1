"""Comparing a panel with its own past: time shift, and the expected band with its anomalies.

Pure functions on the Prometheus datasource's long frames (timestamp, series, value, labels).

The expected band of a point is what the same series did at the same time of day on the
previous days (``days`` of them): their median, ± ``mads`` × the scaled median absolute
deviation (MAD × 1.4826, which equals the standard deviation for normal noise). The MAD has a
floor, so a series that was flat in the past (MAD 0) does not make every wiggle an anomaly.
A run of at least ``min_points`` neighbouring points outside their band is one anomaly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from query.chart import epoch_ms

DAY = 86_400
#: the compare modes a panel offers: value → label (the server accepts only these)
MODES = {"off": "No comparison", "1d": "1 day earlier", "1w": "1 week earlier",
         "band": "Expected band (anomalies)"}
SHIFTS = {"1d": DAY, "1w": 7 * DAY}
#: the MAD that makes one standard deviation of normal noise
MAD_SCALE = 1.4826
#: fewest past days a point's band needs; with fewer it has no band (and no anomaly)
MIN_SAMPLES = 4
#: the neighbouring times of day whose deviations are pooled with a point's own (seconds)
POOL = 3600
#: the MAD's floor: this share of the series' typical size (its median absolute value)
FLOOR_SHARE = 0.1


def mode(value) -> str:
    """A compare mode the browser sent; ValueError for anything not offered."""
    if not isinstance(value, str) or value not in MODES:
        raise ValueError(f"compare: {str(value)[:20]!r} is not one of {', '.join(MODES)}")
    return value


def shifted(frame: pd.DataFrame, seconds: float) -> pd.DataFrame:
    """``frame`` moved ``seconds`` later, so last week's values line up with this week's."""
    out = frame.copy()
    out["timestamp"] = out["timestamp"] + pd.Timedelta(seconds=seconds)
    return out


def band_supported(step: float) -> bool:
    """Whether whole days are a whole number of steps (friendly steps up to a day are)."""
    return 0 < step <= DAY and (DAY / step).is_integer()


@dataclass(frozen=True)
class Band:
    """One series' expected band on the window's grid (epoch seconds)."""

    series: str
    t: np.ndarray
    median: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    actual: np.ndarray
    labels: dict = field(default_factory=dict)  # for the legend format


@dataclass(frozen=True)
class Anomaly:
    """Neighbouring points of one series outside its band."""

    series: str
    start: float
    end: float
    peak: float  # the value furthest outside the band
    expected: float  # the band's median at that point

    @property
    def direction(self) -> str:
        return "above" if self.peak > self.expected else "below"


def grid(frame: pd.DataFrame, start: float, end: float, step: float
         ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The frame on a regular grid: (times, series names, values[time, series]) with NaN
    where a series has no sample."""
    t = np.arange(start, end + step / 2, step)
    names = [str(s) for s in pd.unique(frame["series"])] if len(frame) else []
    values = np.full((t.size, len(names)), np.nan)
    if not names:
        return t, names, values
    secs = epoch_ms(frame["timestamp"]) / 1000
    rows = np.rint((secs - start) / step).astype(np.int64)
    cols = pd.Categorical(frame["series"].astype(str), categories=names).codes
    ok = (rows >= 0) & (rows < t.size)
    values[rows[ok], cols[ok]] = frame["value"].to_numpy(dtype=float)[ok]
    return t, names, values


def expected_bands(frame: pd.DataFrame, start: float, end: float, step: float, *,
                   days: int = 7, mads: float = 3.0) -> list[Band]:
    """The bands of every series of ``frame`` over [start, end].

    ``frame`` must reach back ``days`` days before ``start`` (one query over the longer range:
    cheaper than one query per day; see bench/anomaly_band.py).
    """
    if not band_supported(step):
        raise ValueError(f"an expected band needs a step that divides a day ({step:g} s does "
                         "not): pick a range of 30 days or less")
    per_day = round(DAY / step)
    first = start - days * DAY
    t, names, values = grid(frame, first, end, step)
    lags = np.stack([np.roll(values, k * per_day, axis=0) for k in range(1, days + 1)])
    lags[:, : days * per_day] = np.nan  # rolled in from the end: not the past
    own = slice(days * per_day, None)
    with np.errstate(all="ignore"):
        past = lags[:, own]
        enough = np.sum(np.isfinite(past), axis=0) >= MIN_SAMPLES
        median = _nanmedian(past)
        mad = _pooled(np.abs(past - median), max(1, round(POOL / step))) * MAD_SCALE
        floor = FLOOR_SHARE * _nanmedian(np.abs(values))
        width = mads * np.fmax(mad, np.where(np.isfinite(floor), floor, 0.0))
    median = np.where(enough, median, np.nan)
    labels = _labels(frame)
    return [Band(name, t[own], median[:, i], median[:, i] - width[:, i],
                 median[:, i] + width[:, i], values[own, i], labels.get(name, {}))
            for i, name in enumerate(names)]


def _labels(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Each series' labels (the frame's label columns on its first row)."""
    if frame.empty:
        return {}
    columns = [c for c in frame.columns if c not in ("timestamp", "value", "series")]
    first = frame.drop_duplicates("series")
    return {str(row["series"]): {c: str(row[c]) for c in columns if pd.notna(row[c])}
            for row in first.to_dict("records")}


def _nanmedian(values: np.ndarray) -> np.ndarray:
    """The median over axis 0 of the finite values; NaN where there are none (without
    numpy's "All-NaN slice" warning: a point with no past is expected here)."""
    some = np.isfinite(values).any(axis=0)
    return np.where(some, np.nanmedian(np.where(some, values, 0.0), axis=0), np.nan)


def _pooled(deviations: np.ndarray, reach: int) -> np.ndarray:
    """The median deviation over the past days *and* the neighbouring times of day
    (± ``reach`` steps): a week gives only seven values per point, too few to trust alone."""
    shifted = [np.roll(deviations, o, axis=1) for o in range(-reach, reach + 1)]
    for o, arr in zip(range(-reach, reach + 1), shifted, strict=True):
        if o > 0:
            arr[:, :o] = np.nan
        elif o < 0:
            arr[:, o:] = np.nan
    return _nanmedian(np.concatenate(shifted))


def anomalies(bands: Sequence[Band], step: float, *, min_points: int = 2, most: int = 50
              ) -> list[Anomaly]:
    """The runs of at least ``min_points`` points outside their band, largest departure
    first (at most ``most``). A lone point outside is noise more often than news."""
    found = []
    for band in bands:
        with np.errstate(invalid="ignore"):
            outside = (band.actual > band.hi) | (band.actual < band.lo)
        found += [a for a in _runs(band, outside, step)
                  if a.end - a.start >= min_points * step - 1e-9]
    found.sort(key=lambda a: -abs(a.peak - a.expected) / (abs(a.expected) or 1.0))
    return found[:most]


def _runs(band: Band, outside: np.ndarray, step: float) -> list[Anomaly]:
    out, i = [], 0
    idx = np.flatnonzero(outside)
    while i < idx.size:
        j = i
        while j + 1 < idx.size and idx[j + 1] == idx[j] + 1:
            j += 1
        run = idx[i:j + 1]
        gap = np.abs(band.actual[run] - band.median[run])
        worst = run[int(np.argmax(gap))]
        out.append(Anomaly(band.series, float(band.t[run[0]]), float(band.t[run[-1]] + step),
                           float(band.actual[worst]), float(band.median[worst])))
        i = j + 1
    return out
