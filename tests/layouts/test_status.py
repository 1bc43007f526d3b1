"""Status cards: five states, heartbeat ticks, response-time chart, coverage, down since,
certificate warnings, the incidents table."""

from __future__ import annotations

import base64
import calendar
from dataclasses import dataclass

import pytest

from datasources.probes import ProbeResult
from layouts import status as view
from layouts import status_history as part
from query.incidents import Incident, Probe, Run

T = calendar.timegm((2026, 12, 2, 13, 5, 0, 0, 0, 0))


def walk(component):
    """Every component in the tree, depth first."""
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        for c in children:
            yield from walk(c)
    elif children is not None and hasattr(children, "children"):
        yield from walk(children)


def text_of(component) -> str:
    if isinstance(component, str | int | float):
        return str(component)
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        return " ".join(text_of(c) for c in children if c is not None)
    return text_of(children) if children is not None else ""


def classes(component) -> list[str]:
    return [getattr(c, "className", None) or "" for c in walk(component)]


@dataclass(frozen=True)
class Stateful(ProbeResult):
    """A result carrying the states and certificate age the probes add."""

    state: str = "up"
    cert_days: float | None = None


def result(up=True, **extra):
    base = ("redis", "tcp", "tcp://127.0.0.1:6379", "data", up, 1.5 if up else None,
            "connected" if up else "connection refused", T)
    return Stateful(*base, **extra) if extra else ProbeResult(*base)


@pytest.mark.parametrize("extra, badge, border", [
    ({}, "Up", "border-success"),
    ({"state": "pending"}, "Pending", "border-warning"),
    ({"state": "down"}, "Offline", "border-danger"),
    ({"state": "maintenance"}, "Maintenance", "border-secondary"),
    ({"state": "degraded"}, "Degraded", "border-orange"),
])
def test_each_state_has_its_own_badge_and_border(extra, badge, border):
    card = view.card(result(up=extra.get("state") not in ("down", "pending"), **extra),
                     view.CardHistory(now=T))
    assert border in card.className
    found = [c for c in walk(card) if "status-state" in (getattr(c, "className", "") or "")]
    assert found[0].children == badge


def test_degraded_says_up_but_queries_fail():
    card = view.card(result(state="degraded"), view.CardHistory(now=T))
    assert "up, but queries fail" in text_of(card)


def test_a_result_without_state_reads_up_from_up():
    assert "border-danger" in view.card(result(up=False), view.CardHistory(now=T)).className


@pytest.mark.parametrize("days, text, colour", [
    (13.5, "cert expires in 13 d", "warning"), (0.2, "cert expires in 0 d", "warning"),
    (-2.5, "cert expired 3 d ago", "danger"), (14, None, None), (None, None, None),
])
def test_certificate_badge_under_fourteen_days(days, text, colour):
    badge = part.cert_badge(days)
    assert (badge.children, badge.color) == (text, colour) if text else badge is None


def test_heartbeat_has_one_tick_per_probe_padded_to_its_length_with_hover_titles():
    probes = [Probe("redis", T + i, s, 2.0 if s == "up" else None,
                    "connected" if s == "up" else "refused")
              for i, s in enumerate(["up", "pending", "down", "maintenance"])]
    bar = part.heartbeat(probes, n=6)
    ticks = bar.children
    assert [t.className for t in ticks] == ["hb hb-none"] * 2 + [
        "hb hb-up", "hb hb-pending", "hb hb-down", "hb hb-maintenance"]
    assert ticks[2].title == "13:05:00 UTC · up · 2.0 ms · connected"
    assert ticks[4].title == "13:05:02 UTC · down · refused"


def test_chart_uses_raw_probes_until_there_are_enough_minutes():
    probes = [Probe("r", T + i * 3, "up", 1.0 + i) for i in range(4)] + [
        Probe("r", T + 20, "down")]
    points, what = part.response_points([(T, 1.0)], probes)
    assert what == "each probe" and len(points) == 4
    buckets = [(int(T) + 60 * i, 2.0) for i in range(5)]
    assert part.response_points(buckets, probes) == ([(float(t), v) for t, v in buckets],
                                                      "per-minute average")


def svg_of(uri: str) -> str:
    return base64.b64decode(uri.split(",", 1)[1]).decode()


def test_chart_has_a_ms_axis_and_utc_times_and_shows_a_single_probe():
    svg = svg_of(part.chart_uri([(T, 7.0)]))
    assert "10 ms" in svg and ">5<" in svg and ">0<" in svg
    assert "<circle" in svg and "13:05 UTC" in svg
    two = svg_of(part.chart_uri([(T, 120.0), (T + 600, 80.0)]))
    assert "200 ms" in two and "<polyline" in two and "13:15 UTC" in two
    assert "no response times yet" in svg_of(part.chart_uri([]))


def test_a_card_whose_recent_probes_all_failed_says_nothing_answered():
    history = view.CardHistory(recent={"redis": [Probe("redis", T, "down")]}, now=T)
    [img] = [c for c in walk(view.card(result(up=False), history))
             if getattr(c, "className", None) == "response-chart"]
    assert img.title == "no answer to time lately"
    assert "no answer to time lately" in svg_of(img.src)


@pytest.mark.parametrize("value, top", [(0, 1), (0.7, 1), (7, 10), (12, 20), (120, 200),
                                        (450, 500), (1000, 1000)])
def test_axis_top_is_a_round_number(value, top):
    assert part.nice_top(value) == pytest.approx(top)


def test_uptime_rows_say_how_much_of_each_window_was_observed():
    table = part.uptime_rows({"1h": 1.0, "24h": 0.992, "7d": 0.992},
                             {"1h": 3600, "24h": 3 * 3600, "7d": 3 * 3600}, view.uptime_text)
    rows = [text_of(r) for r in table.children.children]
    assert rows == ["1h 100% of 1 h observed", "24h 99.2% of 3 h observed",
                    "7d 99.2% of 3 h observed"]
    fresh = part.uptime_rows({"1h": 1.0}, {"1h": 25.0}, view.uptime_text)
    assert text_of(fresh.children.children[0]) == "1h 100% of 25 s observed"
    assert text_of(fresh.children.children[2]) == "7d — just started"


def test_a_down_card_says_since_when():
    history = view.CardHistory(runs={"redis": Run("redis", "down", T - 720, T)}, now=T)
    assert "down since 12:53 UTC (12 min)" in text_of(view.card(result(up=False), history))
    up = view.CardHistory(runs={"redis": Run("redis", "up", T - 720, T)}, now=T)
    assert "down since" not in text_of(view.card(result(), up))


def test_an_expanded_card_carries_its_24_hour_chart_and_hide_button():
    history = view.CardHistory(day={"redis": [(int(T), 3.0), (int(T) + 60, 4.0)]}, now=T)
    card = view.card(result(), history)
    assert "status-card-expanded" in card.className
    text = text_of(card)
    assert "last 24 hours" in text and "Hide 24 h" in text
    assert "Show 24 h" in text_of(view.card(result(), view.CardHistory(now=T)))


def test_incidents_table_newest_first_with_ongoing_and_unobserved_ends():
    rows = [Incident("redis", T - 60, None, T - 5, "connection refused", 12, True),
            Incident("nginx", T - 7200, None, T - 7000, "HTTP 502", 40, False),
            Incident("nginx", T - 9000, T - 8400, T - 8405, "HTTP 502", 120, False)]
    table = part.incidents_table(rows, now=T, shown_max=25)
    body = next(c for c in walk(table) if c.__class__.__name__ == "Tbody")
    texts = [text_of(r) for r in body.children]
    assert texts[0] == "redis 2026-12-02 13:04:00 ongoing 1 min 12 connection refused"
    assert "not observed (history gap)" in texts[1] and "≥ 3 min" in texts[1]
    assert "2026-12-02 10:35:00 2026-12-02 10:45:00 10 min" in texts[2]
    assert body.children[0].className == "incident-ongoing"


def test_no_incidents_says_so_and_a_full_table_says_more_are_in_the_csv():
    assert "No outages" in text_of(part.incidents_table([], now=T, shown_max=25))
    rows = [Incident("a", T - i, T, T, "x", 1, False) for i in range(2)]
    assert "Download CSV has more" in text_of(part.incidents_table(rows, now=T, shown_max=2))


def test_the_tab_frame_draws_the_first_paint_cards_and_incidents():
    first = ("1/1 services up", "c", "checked", "CARDS", None, "INCIDENTS")
    tab = view.layout(type("C", (), {"refresh": type("R", (), {"status": 3})})(), first)
    assert "CARDS" in text_of(tab) and "INCIDENTS" in text_of(tab)
