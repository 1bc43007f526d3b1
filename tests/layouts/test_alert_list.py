"""layouts/alert_list.py: links, silences and the history chart, from hand-made frames."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from datasources.cache import Result
from layouts import alert_list
from query import alerts
from tests.layouts.test_prom_status import texts

NOW = pd.Timestamp("2026-11-22T13:00:00Z").timestamp()


def merged(**annotations) -> pd.DataFrame:
    frame = pd.DataFrame([{"alertname": "A", "state": "suppressed", "severity": "critical",
                           "active_at": pd.Timestamp(NOW - 60, unit="s", tz="UTC"),
                           "summary": "s", "labels": "", "label_set": {"alertname": "A"},
                           "annotations": annotations, "silenced_by": (),
                           "inhibited_by": ("x",)}])
    return alerts.merge(None, frame)


def find(component, kind) -> list:
    """Every component of type ``kind`` in a tree."""
    found = [component] if isinstance(component, kind) else []
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        return found + [f for c in children for f in find(c, kind)]
    return found + (find(children, kind) if children is not None else [])


def test_only_http_annotation_urls_become_links():
    frame = merged(runbook_url="javascript:alert(1)", dashboard_url="https://grafana/d/1")
    view = alert_list.alert_groups(frame, can_silence=True, total=1)
    assert [a.href for a in find(view, html.A)] == ["https://grafana/d/1"]
    assert "inhibited" in texts(view)


def test_silence_buttons_only_for_a_role_that_may_silence():
    frame = merged()
    assert find(alert_list.alert_groups(frame, can_silence=False, total=1), dbc.Button) == []
    [button] = find(alert_list.alert_groups(frame, can_silence=True, total=1), dbc.Button)
    assert button.id == {"type": "silence-open", "key": frame["key"].item()}


def test_silences_list_with_expire_only_for_a_role_that_may_silence():
    silences = pd.DataFrame([{"id": "s1", "state": "active", "matchers": 'a="1"',
                              "created_by": "olga", "comment": "deploy",
                              "starts_at": pd.Timestamp(NOW, unit="s", tz="UTC"),
                              "ends_at": pd.Timestamp(NOW + 7200, unit="s", tz="UTC")}])
    view = alert_list.silences_list(silences, NOW, can_silence=True)
    assert "by olga, ends in 2h" in texts(view) and "deploy" in texts(view)
    assert [b.id for b in find(view, dbc.Button)] == [{"type": "silence-expire", "id": "s1"}]
    assert find(alert_list.silences_list(silences, NOW), dbc.Button) == []
    assert "No active silences." in texts(alert_list.silences_list(silences.iloc[0:0], NOW))


def test_history_draws_a_bar_per_stretch_with_label_text_escaped():
    t = pd.Timestamp(NOW, unit="s", tz="UTC")
    frame = pd.DataFrame({"alert": ['A x="<a href=//e>"', "B"], "alertname": ["A", "B"],
                          "start": [t, t], "end": [t + pd.Timedelta(minutes=5),
                                                   t + pd.Timedelta(minutes=1)]})
    fig = alert_list.history_figure(frame, (NOW - 3600, NOW + 600))
    [bar] = fig.data
    assert pd.Timestamp(fig.layout.xaxis.range[0]) == pd.Timestamp(NOW - 3600, unit="s",
                                                                    tz="UTC")
    assert list(bar.y) == ['A x="&lt;a href=//e&gt;"', "B"]
    assert list(bar.x) == [300_000, 60_000]
    assert "No alert fired in this window." in texts(
        alert_list.history(Result(value=frame.iloc[0:0])))
