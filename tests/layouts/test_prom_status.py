"""Status tab, Prometheus section, rendered from recorded real bodies."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

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


def test_targets_show_job_instance_state_last_scrape_and_error():
    card = view.targets_card(Result(value=TARGETS, fetched_at=NOW), NOW)
    table = {r[0]: r for r in rows(card, "prom-target")}
    assert set(table) == {"broken", "node", "prometheus"}
    broken = table["broken"]
    assert broken[2] == "down" and broken[3].endswith(" ago")
    assert "connection refused" in broken[4]
    assert f"{len(TARGETS) - 1}/{len(TARGETS)} up" in texts(card)


def test_alerts_from_both_sources_firing_first_with_severity_and_summary():
    card = view.alerts_card([("Prometheus", Result(value=ALERTS)),
                             ("Alertmanager", Result(value=AM_ALERTS))], NOW)
    table = rows(card, "prom-alert")
    assert [r[0] for r in table] == ["firing", "firing", "pending"]
    assert {r[-1] for r in table if r[0] == "firing"} == {"Prometheus", "Alertmanager"}
    pending = table[-1]
    assert pending[1:4] == ["DemoSlowBurn", "warning", "1m ago"]
    assert "Pending for an hour before it fires" in pending
    assert {"2 firing", "1 pending"} <= set(texts(card))


def test_a_failing_source_shows_its_error_and_the_other_its_alerts():
    down = Unreachable("Alertmanager", "connection refused")
    card = view.alerts_card([("Prometheus", Result(value=ALERTS)),
                             ("Alertmanager", Result(error=down))], NOW)
    assert "Alertmanager unreachable: connection refused" in texts(card)
    assert len(rows(card, "prom-alert")) == 2


def test_no_alerts_says_so():
    card = view.alerts_card([("Prometheus", Result(value=ALERTS.iloc[0:0]))], NOW)
    assert "No alerts firing or pending." in texts(card)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s ago"), (59, "59s ago"), (61, "1m ago"), (7300, "2h ago"),
    (3 * 86400, "3d ago")])
def test_ago(seconds, text):
    assert view.ago(pd.Timestamp(NOW - seconds, unit="s", tz="UTC"), NOW) == text


def test_never_scraped_is_never():
    assert view.ago(pd.NaT, NOW) == "never"
