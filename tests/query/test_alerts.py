"""query/alerts.py: Prometheus' and Alertmanager's alerts merged into one row per alert."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from datasources.alertmanager import alerts_from_response as am_alerts
from datasources.prometheus import alerts_from_response as prom_alerts
from query import alerts

FIXTURES = Path(__file__).parents[1] / "fixtures"


def prom(*rows):
    """A Prometheus alert frame from (labels, state, active_at) rows."""
    return pd.DataFrame([{"alertname": labels.get("alertname", ""), "state": state,
                          "severity": labels.get("severity", ""),
                          "active_at": pd.Timestamp(t, unit="s", tz="UTC"), "summary": "",
                          "labels": "", "label_set": labels, "annotations": {}}
                         for labels, state, t in rows])


def am(*rows):
    """An Alertmanager alert frame from (labels, state, silenced_by, inhibited_by, annotations)."""
    return pd.DataFrame([{"alertname": labels.get("alertname", ""), "state": state,
                          "severity": labels.get("severity", ""),
                          "active_at": pd.Timestamp(100, unit="s", tz="UTC"),
                          "summary": "from am", "labels": "", "label_set": labels,
                          "annotations": notes, "silenced_by": tuple(silenced),
                          "inhibited_by": tuple(inhibited)}
                         for labels, state, silenced, inhibited, notes in rows])


A = {"alertname": "A", "severity": "critical", "instance": "1"}
A2 = {"alertname": "A", "severity": "critical", "instance": "2"}
B = {"alertname": "B", "severity": "warning"}
C = {"alertname": "C"}


def test_the_same_label_set_from_both_sources_is_one_alert_with_both_sources():
    got = alerts.merge(prom((A, "firing", 50), (B, "pending", 60), (C, "inactive", 1)),
                       am((dict(reversed(list(A.items()))), "active", (), (), {})))
    assert got["alertname"].tolist() == ["A", "B"]
    assert got["sources"].tolist() == [("prometheus", "alertmanager"), ("prometheus",)]
    assert got["active_at"].iloc[0] == pd.Timestamp(50, unit="s", tz="UTC")  # the earliest
    assert got["summary"].iloc[0] == "from am"
    assert alerts.counts(got) == {"firing": 1, "pending": 1, "inhibited": 0, "silenced": 0}


def test_alertmanager_says_silenced_or_inhibited_and_that_wins():
    got = alerts.merge(prom((A, "firing", 1), (A2, "firing", 1)),
                       am((A, "suppressed", ["s1"], [], {}), (A2, "suppressed", [], ["fp"], {}),
                          (B, "unprocessed", [], [], {})))
    by_instance = dict(zip(got["label_set"].map(lambda x: x.get("instance", "-")), got["state"],
                           strict=True))
    assert by_instance == {"1": "silenced", "2": "inhibited", "-": "firing"}
    assert got["state"].tolist() == ["firing", "inhibited", "silenced"]  # the list's order
    assert got.loc[got["state"] == "silenced", "silenced_by"].item() == ("s1",)


def test_recorded_bodies_merge_the_duplicate_alert():
    got = alerts.merge(prom_alerts((FIXTURES / "prometheus" / "prom_alerts.json").read_bytes()),
                       am_alerts((FIXTURES / "alertmanager" / "am_alerts.json").read_bytes()))
    assert got[["alertname", "state"]].values.tolist() == [
        ["DemoAlwaysFiring", "firing"], ["DemoSlowBurn", "pending"], ["DemoManual", "silenced"]]
    assert got["sources"].iloc[0] == ("prometheus", "alertmanager")


def test_no_source_answered_is_none_not_an_empty_all_clear():
    assert alerts.merge(None, None) is None
    assert alerts.merge(prom(), None).empty


def test_only_http_links_from_annotations():
    notes = {"runbook_url": "javascript:alert(1)", "dashboard_url": "https://grafana/d/x"}
    got = alerts.merge(None, am((A, "active", [], [], notes)))
    assert got["runbook_url"].item() is None
    assert got["dashboard_url"].item() == "https://grafana/d/x"


@pytest.mark.parametrize(("text", "ok"), [
    ("http://x/runbook", True), ("HTTPS://x", True), (" https://x/a ", True),
    ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False), ("data:text/html,x", False),
    ("//evil/x", False), ("http:///nohost", False), ("", False), (None, False), (5, False)])
def test_safe_url(text, ok):
    assert (alerts.safe_url(text) is not None) is ok


def test_select_by_state_severity_and_label():
    frame = alerts.merge(prom((A, "firing", 1), (A2, "firing", 2), (B, "pending", 3)), None)
    assert len(alerts.select(frame, states=["pending"])) == 1
    assert len(alerts.select(frame, severities=["critical"])) == 2
    assert alerts.select(frame, label="instance=2")["label_set"].item() == A2
    assert alerts.select(frame, label='instance="2"')["label_set"].item() == A2
    assert len(alerts.select(frame, label="b")) == 1  # text: a substring of the name
    assert [n for n, _ in alerts.groups(frame)] == ["A", "B"]
    assert [len(g) for _, g in alerts.groups(frame)] == [2, 1]


def test_filters_from_a_browser_are_bounded():
    got = alerts.filters(["firing", "nonsense", 5], ["x" * 500] * 50, {"a": 1})
    assert got["states"] == ["firing"]
    assert len(got["severities"]) == alerts.MAX_FILTER_VALUES
    assert len(got["severities"][0]) == alerts.MAX_FILTER_TEXT
    assert got["label"] == ""


def test_fingerprint_ignores_label_order():
    assert alerts.fingerprint({"a": "1", "b": "2"}) == alerts.fingerprint({"b": "2", "a": "1"})
    assert alerts.fingerprint({"a": "1"}) != alerts.fingerprint({"a": "2"})


@pytest.mark.parametrize(("choice", "custom", "seconds"), [
    ("2h", "", 7200), ("custom", "90m", 5400), ("custom", " 1d ", 86400)])
def test_silence_seconds(choice, custom, seconds):
    assert alerts.silence_seconds(choice, custom) == seconds


@pytest.mark.parametrize(("choice", "custom", "message"), [
    ("custom", "soon", "not a duration"), ("custom", "10s", "1m to 90d"),
    ("custom", "1000d", "1m to 90d"), ("5y", "", "unknown duration")])
def test_bad_silence_lengths_say_why(choice, custom, message):
    with pytest.raises(ValueError, match=message):
        alerts.silence_seconds(choice, custom)


def test_a_silence_needs_a_comment():
    with pytest.raises(ValueError, match="comment is required"):
        alerts.silence_comment("  ")
