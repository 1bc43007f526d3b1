"""A panel's y axis as ``[[panels]]`` sets it: linear or log scale, fixed limits, thresholds.

``config.py`` validates the keys; ``from_config`` turns them into a ``YAxis``, and
``layouts.panel_axis.apply`` draws it on a finished figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

SCALES = ("linear", "log")
#: a threshold given as a bare number is drawn in this colour (Grafana's red)
THRESHOLD_COLOUR = "#dc3545"
#: thresholds one panel may draw
MAX_THRESHOLDS = 20


class Threshold(NamedTuple):
    """A horizontal line at ``value``."""

    value: float
    color: str = THRESHOLD_COLOUR


class YAxis(NamedTuple):
    """Scale, fixed limits (None: automatic) and thresholds of one panel's y axis."""

    scale: str = "linear"
    lo: float | None = None
    hi: float | None = None
    thresholds: tuple[Threshold, ...] = ()

    @property
    def plain(self) -> bool:
        """Whether the axis is the default one (nothing to change in a figure)."""
        return self == YAxis()


def from_config(scale: str = "linear", lo=None, hi=None,
                thresholds: Sequence = ()) -> YAxis:
    """The axis of a validated ``[[panels]]`` entry."""
    return YAxis(scale, None if lo is None else float(lo), None if hi is None else float(hi),
                 tuple(_threshold(t) for t in thresholds or ()))


def _threshold(item) -> Threshold:
    if isinstance(item, Mapping):
        return Threshold(float(item["value"]), item.get("color") or THRESHOLD_COLOUR)
    return Threshold(float(item))
