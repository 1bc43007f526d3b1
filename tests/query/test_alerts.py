"""query/alerts.py: one list of active alerts from every source."""

from __future__ import annotations

import pandas as pd

from query import alerts


def alert_frame(*rows):
    return pd.DataFrame(rows, columns=["alertname", "state", "active_at"])


def test_active_alerts_are_firing_first_then_oldest_with_their_source():
    prom = alert_frame(("A", "pending", 5), ("B", "firing", 9), ("C", "inactive", 1))
    am = alert_frame(("D", "firing", 3))
    got = alerts.active([("Prometheus", prom), ("Alertmanager", am), ("down", None)])
    assert got["alertname"].tolist() == ["D", "B", "A"]
    assert got["source"].tolist() == ["Alertmanager", "Prometheus", "Prometheus"]
    assert alerts.counts(got) == (2, 1)


def test_no_source_answered_is_none_not_an_empty_all_clear():
    assert alerts.active([("Prometheus", None)]) is None
