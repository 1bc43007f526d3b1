"""The legend as a table under a Metrics chart: one row per series with min, max, mean, last
(``query.legend_stats``); chosen with "Legend: table" in the chart options."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dash_bootstrap_components as dbc
from dash import html

from query.legend_stats import COLUMNS, Stat, formatted


def table(stats: Sequence[Stat], total: int, unit: str, name_of: Callable[[Stat], str]):
    """The legend table; ``name_of`` gives a series' legend name (the panel's format)."""
    if not stats:
        return None
    head = html.Thead(html.Tr([html.Th("Series"), *(html.Th(c.capitalize(),
                                                            className="text-end")
                                                    for c in COLUMNS)]))
    body = html.Tbody([html.Tr([
        html.Td(name_of(s), className="metrics-legend-name"),
        *(html.Td(formatted(getattr(s, c), unit), className="text-end font-monospace")
          for c in COLUMNS)]) for s in stats])
    parts = [dbc.Table([head, body], size="sm", borderless=True, hover=True,
                       className="mb-0 small metrics-legend-table")]
    if total > len(stats):
        parts.append(html.Div(f"{len(stats)} of {total} series listed",
                              className="small text-muted"))
    return html.Div(parts, className="px-2 pb-2 metrics-legend")
