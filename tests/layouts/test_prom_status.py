"""Status tab, Prometheus section, rendered from recorded real bodies."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dash import html

from datasources.alertmanager import alerts_from_response as am_alerts
from datasources.cache import Result
from datasources.errors import Unreachable
from datasources.prometheus import alerts_from_response, targets_from_response
from layouts import prom_status as view

FIXTURES = Path(__file__).parents[1] / "fixtures"
TARGETS = targets_from_response((FIXTURES / "prometheus" / "prom_targets.json").read_bytes())
ALERTS = alerts_from_response((FIXTURES / "prometheus" / "prom_alerts.json").read_bytes())
AM_ALERTS = am_alerts((FIXTURES / "alertmanager" / "am_alerts.json").read_bytes())
NOW = pd.Timestamp("2026-11-22T13:00:00Z").timestamp()


def texts(component) -> list[str]:
    """Every text in a component tree, in order."""
    if isinstance(component, str | int | float):
        return [str(component)]
    if isinstance(component, list | tuple):
        return [t for c in component for t in texts(c)]
    children = getattr(component, "children", None)
    return texts(children) if children is not None else []


def rows(component, cls: str) -> list[list[str]]:
    """The texts of each table row with ``cls`` in its className."""
    found = []
    if isinstance(component, list | tuple):
        return [r for c in component for r in rows(c, cls)]
    if cls in (getattr(component, "className", "") or "").split():
        return [texts(component)]
    children = getattr(component, "children", None)
    return found + (rows(children, cls) if children is not None else [])


def alerts_card(*args, **kwargs):
    """The alerts card's parts as one component, to read."""
    return html.Div(list(view.alerts_parts(*args, **kwargs)))


def test_targets_show_job_instance_state_last_scrape_and_error():
    card = view.targets_card(Result(value=TARGETS, fetched_at=NOW), NOW)
    table = {r[0]: r for r in rows(card, "prom-target")}
    assert set(table) == {"broken", "node", "prometheus"}
    broken = table["broken"]
    assert broken[2] == "down" and broken[3].endswith(" ago")
    assert "connection refused" in broken[4]
    assert f"{len(TARGETS) - 1}/{len(TARGETS)} up" in texts(card)


def test_an_alert_from_both_sources_is_listed_once_with_both_source_tags():
    card = alerts_card([("Prometheus", Result(value=ALERTS)),
                             ("Alertmanager", Result(value=AM_ALERTS))], NOW)
    items = rows(card, "alert-item")
    assert [r[0] for r in items] == ["firing", "pending", "silenced"]
    firing, pending, silenced = items
    assert firing[:3] == ["firing", "critical", 'team=ops "core"']
    assert {"prometheus", "alertmanager"} <= set(firing)
    assert "Pending for an hour before it fires" in pending and "alertmanager" not in pending
    assert "alertmanager" in silenced and "prometheus" not in silenced
    # the header counts each alert once: 1 firing (it was "2 firing" when listed twice)
    assert {"1 firing", "1 pending", "1 silenced"} <= set(texts(card))
    groups = rows(card, "alert-group-head")
    assert groups == [["DemoAlwaysFiring", "1"], ["DemoSlowBurn", "1"], ["DemoManual", "1"]]


def test_filters_keep_the_header_counts_of_the_whole_list():
    card = alerts_card([("Prometheus", Result(value=ALERTS)),
                             ("Alertmanager", Result(value=AM_ALERTS))], NOW,
                            filters={"states": ["silenced"]})
    assert [r[0] for r in rows(card, "alert-item")] == ["silenced"]
    assert "1 firing" in texts(card)


def test_a_failing_source_shows_its_error_and_the_other_its_alerts():
    down = Unreachable("Alertmanager", "connection refused")
    card = alerts_card([("Prometheus", Result(value=ALERTS)),
                             ("Alertmanager", Result(error=down))], NOW)
    assert "Alertmanager unreachable: connection refused" in texts(card)
    assert len(rows(card, "alert-item")) == 2


def test_no_alerts_says_so():
    card = alerts_card([("Prometheus", Result(value=ALERTS.iloc[0:0]))], NOW)
    assert "No alerts firing or pending." in texts(card)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s ago"), (59, "59s ago"), (61, "1m ago"), (7300, "2h ago"),
    (3 * 86400, "3d ago")])
def test_ago(seconds, text):
    assert view.ago(pd.Timestamp(NOW - seconds, unit="s", tz="UTC"), NOW) == text


def test_never_scraped_is_never():
    assert view.ago(pd.NaT, NOW) == "never"
