"""Annotations on the Metrics charts: deploys as lines, firing alerts as shaded regions.

Pure functions from the Prometheus datasource's long frames (timestamp, series, value, labels):

- **deploys** — a ``*_build_info`` series per (job, version): a version whose series begins
  inside the range was deployed then (one already there at the start was deployed before);
- **alerts** — the ``ALERTS{alertstate="firing"}`` series: each run of samples is a region;
- **yours** — ``[[annotations]]`` in the config: a PromQL expression gives a region wherever it
  has a non-zero value, or a line at each such point (``style = "line"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from query.chart import epoch_ms

#: the built-in sources: name → (PromQL, style, the labels that name an annotation)
DEPLOYS = 'max by (job, version) ({__name__=~".+_build_info", version!=""})'
ALERTS = 'max by (alertname, severity) (ALERTS{alertstate="firing"})'
#: a region covering at least this share of the range shades the whole chart: it is listed
#: in a note instead ("fired the whole range")
WHOLE_RANGE = 0.9


@dataclass(frozen=True)
class Mark:
    """A line (``end`` is None) or a region on the time axis (epoch seconds)."""

    source: str
    text: str
    start: float
    end: float | None = None
    severity: str = ""

    @property
    def is_region(self) -> bool:
        return self.end is not None


def deploys(frame: pd.DataFrame, range_start: float, step: float) -> list[Mark]:
    """A line where each (job, version) series begins inside the range."""
    marks = []
    for labels, t in _series_times(frame):
        first = float(t[0])
        if first > range_start + step:  # present from the range's first point: deployed before
            job = labels.get("job", "")
            marks.append(Mark("deploys", f"{job} {labels.get('version', '')}".strip(), first))
    return sorted(marks, key=lambda m: m.start)


def regions(frame: pd.DataFrame, step: float, *, source: str, name_label: str = "alertname"
            ) -> list[Mark]:
    """A region for each run of samples (a gap longer than a step ends a run)."""
    marks = []
    for labels, t in _series_times(frame, nonzero=True):
        breaks = np.flatnonzero(np.diff(t) > step * 1.5)
        starts = np.concatenate([[0], breaks + 1])
        ends = np.concatenate([breaks, [t.size - 1]])
        text = labels.get(name_label) or source
        for a, b in zip(starts, ends, strict=True):
            marks.append(Mark(source, text, float(t[a]), float(t[b] + step),
                              labels.get("severity", "")))
    return sorted(marks, key=lambda m: m.start)


def lines(frame: pd.DataFrame, *, source: str, name_label: str = "") -> list[Mark]:
    """A line at each non-zero point."""
    marks = []
    for labels, t in _series_times(frame, nonzero=True):
        text = labels.get(name_label, "") if name_label else ""
        marks += [Mark(source, text or source, float(x)) for x in t]
    return sorted(marks, key=lambda m: m.start)


def split_whole_range(marks: Sequence[Mark], start: float, end: float
                      ) -> tuple[list[Mark], list[str]]:
    """Marks to draw, and notes for regions that cover (nearly) the whole range."""
    span = max(end - start, 1e-9)
    drawn, whole = [], []
    for m in marks:
        if m.is_region and (min(m.end, end) - max(m.start, start)) / span >= WHOLE_RANGE:
            whole.append(m.text)
        else:
            drawn.append(m)
    notes = [f"{', '.join(sorted(set(whole)))} fired over the whole range (not shaded)"
             ] if whole else []
    return drawn, notes


def _series_times(frame: pd.DataFrame, nonzero: bool = False
                  ) -> list[tuple[Mapping[str, str], np.ndarray]]:
    if frame is None or frame.empty:
        return []
    label_cols = [c for c in frame.columns if c not in ("timestamp", "value", "series")]
    out = []
    for _, rows in frame.groupby("series", observed=True, sort=False):
        if nonzero:
            rows = rows[rows["value"].to_numpy(dtype=float) != 0]
        if rows.empty:
            continue
        t = np.sort(epoch_ms(rows["timestamp"]) / 1000)
        first = rows.iloc[0]
        labels = {c: str(first[c]) for c in label_cols if pd.notna(first[c])}
        out.append((labels, t))
    return out
