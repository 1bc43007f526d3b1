"""The Status tab in headless Chromium against real servers."""

from __future__ import annotations

import csv
import re
import socket
import time
from pathlib import Path

from app import create_app
from layouts import ids
from stack.poll import until
from stack.services import LOCALHOST


def services_toml(redis_server, nginx_server, prometheus_server, closed_port):
    return f"""
[refresh]
status = 1

[[services]]
name = "Redis"
kind = "tcp"
port = {redis_server.port}
group = "data"

[[services]]
name = "NGINX"
kind = "http"
port = {nginx_server.port}
keyword = "nginx"
group = "edge"

[[services]]
name = "Prometheus"
kind = "http"
port = {prometheus_server.port}
path = "/-/ready"
group = "monitoring"

[[services]]
name = "Loki"
kind = "http"
port = {closed_port}
path = "/ready"
group = "monitoring"
retries = 0  # Offline at the first failed probe, not Pending first

[prometheus]
url = "{prometheus_server.url}"
"""


def card_read(dash_duo, name, script):
    """``script`` (a JS expression of ``card``) on the named card, in one WebDriver call: the
    cards are redrawn on every refresh, so a card found by one call may be gone by the next."""
    selector = f'[id*=\'"name":"{name}","type":"{ids.STATUS_CARD}"\']'
    return until(lambda: dash_duo.driver.execute_script(
        f"const card = document.querySelector(arguments[0]); return card && ({script});",
        selector), 10)


def card_text(dash_duo, name) -> str:
    return card_read(dash_duo, name, "card.innerText")


def test_status_tab_shows_up_offline_and_summary(dash_duo, write_config, redis_server,
                                                 nginx_server, prometheus_server, closed_port,
                                                 screens):
    config = write_config(services_toml(redis_server, nginx_server, prometheus_server,
                                        closed_port))
    dash_duo.start_server(create_app(config))
    dash_duo.wait_for_text_to_equal("#status-summary", "3/4 services up", timeout=15)
    for name in ("Redis", "NGINX", "Prometheus"):
        assert "Up" in card_text(dash_duo, name)
    loki = card_text(dash_duo, "Loki")
    assert "Offline" in loki and "connection refused" in loki
    assert f"http://127.0.0.1:{closed_port}/ready" in loki
    # Read in one call: the cards are redrawn every second, so an element found may be gone.
    groups = [t.upper() for t in dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('.status-group h6')].map(e => e.innerText)")]
    assert groups == ["DATA", "EDGE", "MONITORING"]
    assert "1h" in card_text(dash_duo, "Redis") and "100%" in card_text(dash_duo, "Redis")
    dash_duo.driver.save_screenshot(str(screens / "status.png"))
    assert dash_duo.get_logs() == []


def test_pause_stops_refresh_and_refresh_now_probes(dash_duo, write_config, redis_server,
                                                    nginx_server, prometheus_server,
                                                    closed_port):
    config = write_config(services_toml(redis_server, nginx_server, prometheus_server,
                                        closed_port))
    dash_duo.start_server(create_app(config))
    dash_duo.wait_for_text_to_equal("#status-summary", "3/4 services up", timeout=15)
    dash_duo.find_element("#status-pause").click()
    dash_duo.wait_for_text_to_equal("#status-pause", "Resume")
    checked = dash_duo.find_element("#status-checked").text

    time.sleep(2.5)  # more than two refresh intervals
    assert dash_duo.find_element("#status-checked").text == checked
    # The round shown is over 2.5 s old by now: the forced one is stamped with a later second.
    dash_duo.find_element("#status-refresh").click()
    until(lambda: dash_duo.find_element("#status-checked").text != checked, 10)
    dash_duo.find_element("#status-pause").click()
    dash_duo.wait_for_text_to_equal("#status-pause", "Pause")
    assert dash_duo.get_logs() == []


def test_offline_cards_are_red_and_up_cards_green(dash_duo, write_config, redis_server,
                                                  nginx_server, prometheus_server, closed_port):
    config = write_config(services_toml(redis_server, nginx_server, prometheus_server,
                                        closed_port))
    dash_duo.start_server(create_app(config))
    dash_duo.wait_for_text_to_equal("#status-summary", "3/4 services up", timeout=15)
    assert "border-danger" in card_read(dash_duo, "Loki", "card.className")
    assert "border-success" in card_read(dash_duo, "Redis", "card.className")
    text, classes = card_read(dash_duo, "Loki", "[card.querySelector('.status-state').innerText,"
                                                " card.querySelector('.status-state').className]")
    assert text == "Offline" and "bg-danger" in classes
    assert dash_duo.get_logs() == []


class Listener:
    """A TCP port that accepts connections while open and refuses them once closed."""

    def __init__(self):
        self.port = 0
        self.sock = None
        self.open()

    def open(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOCALHOST, self.port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def incident_rows(dash_duo) -> list[list[str]]:
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#status-incidents tbody tr')]"
        ".map(tr => [...tr.cells].map(td => td.innerText));")


def test_heartbeat_down_since_an_outage_in_incidents_its_csv_and_24_h(dash_duo, write_config,
                                                                      screens):
    listener = Listener()
    try:
        config = write_config(f"""
[refresh]
status = 1

[[services]]
name = "Flappy"
kind = "tcp"
port = {listener.port}
timeout = 0.5
retries = 0
""")
        dash_duo.start_server(create_app(config))
        dash_duo.wait_for_text_to_equal("#status-summary", "1/1 services up", timeout=15)
        ticks = card_read(dash_duo, "Flappy", "[...card.querySelectorAll('.heartbeat .hb')]"
                                              ".map(t => [t.className, t.title])")
        assert len(ticks) == 40
        assert ticks[-1][0] == "hb hb-up"
        assert re.fullmatch(r"\d\d:\d\d:\d\d UTC · up · \d+\.\d ms · connected", ticks[-1][1])
        assert "ms" in card_read(dash_duo, "Flappy", "card.querySelector('.response-chart').title")

        listener.close()
        dash_duo.wait_for_text_to_equal("#status-summary", "0/1 services up", timeout=20)
        assert re.search(r"down since \d\d:\d\d UTC \(\d+ s\)", card_text(dash_duo, "Flappy"))
        assert until(lambda: incident_rows(dash_duo), 10)[0][2] == "ongoing"

        listener.open()
        dash_duo.wait_for_text_to_equal("#status-summary", "1/1 services up", timeout=20)
        [row] = until(lambda: [r for r in incident_rows(dash_duo) if r[2] != "ongoing"], 10)
        service, started, ended, _duration, failed, detail = row
        assert (service, detail) == ("Flappy", "connection refused")
        assert started < ended and int(failed) >= 1

        dash_duo.find_element("#status-incidents-csv").click()
        folder = Path(dash_duo.download_path)
        path = until(lambda: list(folder.glob("stackscope-incidents-*.csv")), timeout=20)[0]
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert [(r["service"], r["start_utc"], r["end_utc"], r["detail"]) for r in rows] == [
            ("Flappy", started, ended, "connection refused")]
        click_toggle = "card.querySelector('.status-expand').click() || true"
        card_read(dash_duo, "Flappy", click_toggle)
        until(lambda: "last 24 hours" in card_text(dash_duo, "Flappy"), 10)
        assert "status-card-expanded" in card_read(dash_duo, "Flappy", "card.className")
        dash_duo.driver.save_screenshot(str(screens / "status-incident.png"))
        card_read(dash_duo, "Flappy", click_toggle)
        until(lambda: "Show 24 h" in card_text(dash_duo, "Flappy"), 10)
        assert dash_duo.get_logs() == []
    finally:
        listener.close()
