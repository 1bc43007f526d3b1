"""The shared time-range picker: presets, absolute from/to, Back, live refresh, URL state.

Each tab gets its own instance (``range_picker("metrics")``, ``range_picker("logs")``); ids
come from ``ids.range_id(prefix, part)``. The picker's state is one dcc.Store holding
Grafana-style strings, so a range reads the same in the URL, the cache keys and the label::

    {"from": "now-1h", "to": "now", "preset": "now-1h", "back": [["now-6h", "now"], …]}

The state helpers are pure (``query/range_state.py``); ``callbacks/range_picker.py`` wires
them. Times shown and typed are on a 24-hour clock, in UTC; a picker built with
``zones=True`` (Metrics) offers the browser's own zone instead (``query.timezone``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from query.range_state import DEFAULT_FROM, MAX_END, initial_state, refresh_choices, short_label
from query.timerange import PRESETS, human_duration


def range_picker(prefix: str, *, default_from: str = DEFAULT_FROM,
                 refresh_seconds: float = 5, zones: bool = False):
    """The picker's components for the tab ``prefix``; wire it with callbacks.range_picker.

    ``zones`` offers a choice of time zone (UTC or the browser's) in place of the "UTC" note;
    the zone's name is in the ``RANGE_ZONE_NAME`` store for the tab's charts.
    """
    rid = _ids(prefix)
    return html.Div([
        dcc.Store(id=rid(ids.RANGE_STATE), data=initial_state(default_from)),
        dcc.Store(id=rid(ids.RANGE_ZOOM)),
        *([dcc.Store(id=rid(ids.RANGE_ZONE_NAME))] if zones else []),
        dcc.Interval(id=rid(ids.RANGE_INTERVAL), interval=int(refresh_seconds * 1000)),
        html.Div([_presets(rid, default_from), _absolute(rid, zones),
                  _controls(rid, refresh_seconds)],
                 className="d-flex flex-wrap align-items-center gap-2"),
        html.Div([html.Span(id=rid(ids.RANGE_LABEL), className="range-label small text-muted"),
                  html.Span(id=rid(ids.RANGE_ERROR), className="range-error small text-danger")],
                 className="d-flex gap-3 mt-1"),
    ], className="range-picker mb-2", id=rid("picker"))


def _ids(prefix: str):
    return lambda part: ids.range_id(prefix, part)


def _presets(rid, default_from: str):
    options = [{"label": short_label(frm), "value": frm} for _, frm in PRESETS]
    return dbc.RadioItems(
        id=rid(ids.RANGE_PRESETS), options=options, value=default_from, inline=True,
        className="btn-group range-presets", inputClassName="btn-check",
        labelClassName="btn btn-outline-primary btn-sm",
        labelCheckedClassName="active")


def _absolute(rid, zones: bool = False):
    # Text boxes, not <input type="time">: the browser's time input follows its locale (a
    # 12-hour clock in en-US); these read and show 24-hour UTC, and take Grafana's
    # expressions ("now-3h", "now-7d/d") as well as absolute times.
    return html.Div([
        _typed(rid(ids.RANGE_FROM), "From", "now-6h"),
        _typed(rid(ids.RANGE_TO), "To", "now"),
        dcc.DatePickerRange(id=rid(ids.RANGE_DATES), display_format="YYYY-MM-DD",
                            start_date_placeholder_text="from day",
                            end_date_placeholder_text="to day", minimum_nights=0,
                            first_day_of_week=1, clearable=True,
                            initial_visible_month=datetime.now(UTC).date().isoformat(),
                            className="range-dates"),
        zone_select(rid(ids.RANGE_ZONE)) if zones else html.Span("UTC",
                                                                 className="small text-muted"),
        dbc.Button("Apply", id=rid(ids.RANGE_APPLY), size="sm", color="primary",
                   outline=True, n_clicks=0,
                   title="show the typed range (Enter in a box does the same)"),
    ], className="d-flex align-items-center gap-1 range-absolute")


def _typed(component_id: str, label: str, placeholder: str):
    return html.Div(dbc.InputGroup([
        dbc.InputGroupText(label),
        dbc.Input(id=component_id, type="text", placeholder=placeholder, maxLength=MAX_END,
                  n_submit=0, autoComplete="off", className="range-typed"),
    ], size="sm"), className="range-typed-group",
        title="now, now-3h, now-7d/d (rounded to the day), or a time such as "
              "2024-05-01 10:00 (in the zone shown beside the boxes)")


def zone_select(component_id: str):
    """UTC or the browser's zone; the choice is kept in the browser (local storage). The
    browser's option is labelled with its zone's name once the page knows it."""
    return html.Div(dbc.Select(
        id=component_id, size="sm", value="utc", className="range-zone",
        persistence=True, persistence_type="local",
        options=[{"label": "UTC", "value": "utc"},
                 {"label": "Browser time", "value": "browser"}]),
        title="the time zone of the charts and of the times typed here")


def _controls(rid, refresh_seconds: float):
    return html.Div([
        dbc.Button("Back", id=rid(ids.RANGE_BACK), size="sm", color="secondary", outline=True,
                   n_clicks=0, disabled=True, title="undo the last zoom or range change"),
        html.Div(dbc.Select(
            id=rid(ids.RANGE_REFRESH), size="sm", className="range-refresh",
            value=str(refresh_choices(refresh_seconds)[0]),
            options=[{"label": f"every {human_duration(s, whole=True)}", "value": str(s)}
                     for s in refresh_choices(refresh_seconds)]),
            title="how often a live range refreshes"),
        dbc.Button("Pause", id=rid(ids.RANGE_LIVE), size="sm", color="secondary",
                   outline=True, n_clicks=0,
                   title=f"live: refresh every {refresh_seconds:g} s"),
    ], className="d-flex gap-1 ms-auto")
