"""The one writer of metric history as text (label values quoted by query.promql.escape_value).

``openmetrics`` writes OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``
(timestamps in seconds, ``# EOF`` last); ``prometheus_text`` writes the Prometheus text
format with millisecond timestamps, as VictoriaMetrics' ``/api/v1/import/prometheus`` takes
it. Both read the same ``Family``/``Series``: a sample is left out by leaving its time out,
and a NaN value is written as ``NaN``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from query.promql import escape_value

#: Labels that tell a histogram's (or summary's) samples of one instant apart.
_GROUP_LABELS = ("le", "quantile")


@dataclass
class Series:
    """One series: its sample name, labels, sample times (s, ascending) and values.

    ``integer`` writes values as whole numbers (they must be finite); ``decimals`` rounds
    them first. Otherwise a value is written as Python's shortest repr of the float.
    """

    name: str
    labels: Mapping[str, str]
    times: np.ndarray
    values: np.ndarray
    integer: bool = False
    decimals: int | None = None


@dataclass
class Family:
    """A metric family: its name, type, help (``None``: no HELP line) and series."""

    name: str
    kind: str = "gauge"
    help: str | None = None
    series: list[Series] = field(default_factory=list)


def label_text(labels: Mapping[str, object]) -> str:
    """``a="1",b="x\\"y"``: sorted by name, values escaped."""
    return ",".join(f'{k}="{escape_value(v)}"' for k, v in sorted(labels.items()))


def openmetrics(families: Iterable[Family], *, window: tuple[int, int] | None = None) -> str:
    """The families as OpenMetrics text ending in ``# EOF``; with ``window``, [from, to) only."""
    out: list[str] = []
    for family in families:
        lines = _family_lines(family, window)
        if not lines:
            continue
        if family.help is not None:
            out.append(f"# HELP {family.name} {family.help}")
        out.append(f"# TYPE {family.name} {family.kind}")
        out += lines
    out.append("# EOF")
    return "\n".join(out) + "\n"


def openmetrics_chunks(families: list[Family], seconds: int) -> list[str]:
    """OpenMetrics texts, one per ``seconds`` of time (windows aligned to multiples of it).

    promtool re-reads its whole input for every block it writes, so many short files
    backfill in seconds where one long file takes minutes.
    """
    times = [s.times for f in families for s in f.series if len(s.times)]
    lo = min(int(t[0]) for t in times) // seconds * seconds
    hi = max(int(t[-1]) for t in times)
    return [openmetrics(families, window=(start, start + seconds))
            for start in range(lo, hi + 1, seconds)]


def prometheus_text(families: Iterable[Family], *,
                    window: tuple[int, int] | None = None) -> str:
    """The samples as Prometheus text lines with millisecond timestamps, no metadata."""
    lines = [line for family in families for s in family.series
             for line in _series_lines(s, window, millis=True)[0]]
    return "\n".join(lines) + "\n"


def _family_lines(family: Family, window: tuple[int, int] | None) -> list[str]:
    if family.kind not in ("histogram", "summary"):
        return [line for s in family.series for line in _series_lines(s, window)[0]]
    groups: dict[str, list[Series]] = {}
    for s in family.series:
        key = label_text({k: v for k, v in s.labels.items() if k not in _GROUP_LABELS})
        groups.setdefault(key, []).append(s)
    return [line for group in groups.values() for line in _interleaved(group, window)]


def _interleaved(group: list[Series], window: tuple[int, int] | None) -> list[str]:
    """A histogram's buckets, count and sum ordered by time, in series order within one time
    (OpenMetrics wants a histogram's samples of one instant together)."""
    lines: list[str] = []
    times = []
    for s in group:
        more, at = _series_lines(s, window)
        lines += more
        times.append(at)
    order = np.argsort(np.concatenate(times), kind="stable")
    return [lines[i] for i in order.tolist()]


def _series_lines(s: Series, window: tuple[int, int] | None,
                  millis: bool = False) -> tuple[list[str], np.ndarray]:
    times, values = np.asarray(s.times), np.asarray(s.values, dtype=float)
    if window is not None:
        a, b = np.searchsorted(times, window)
        times, values = times[a:b], values[a:b]
    prefix = f"{s.name}{{{label_text(s.labels)}}} " if s.labels else f"{s.name} "
    stamps = (times.astype(np.int64) * 1000 if millis else times).tolist()
    texts = _value_texts(s, values)
    return [f"{prefix}{v} {t}" for v, t in zip(texts, stamps, strict=True)], times


def _value_texts(s: Series, values: np.ndarray) -> list:
    if s.integer:
        return np.rint(values).astype(np.int64).tolist()
    if s.decimals is not None:
        values = np.round(values, s.decimals)
    texts = values.tolist()
    if not np.isfinite(values).all():
        texts = [v if math.isfinite(v) else _special(v) for v in texts]
    return texts


def _special(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"
