"""The Status tab in headless Chromium against real servers."""

from __future__ import annotations

import time

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from app import create_app
from stack.poll import until


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

[prometheus]
url = "{prometheus_server.url}"
"""


def card_read(dash_duo, name, read):
    """``read(card)``; the cards are redrawn every second, so a card found may be replaced
    before it is read (a stale element): find it and read it again then."""
    def attempt():
        try:
            return read(dash_duo.find_element(f'[id*=\'"name":"{name}"\']'))
        except StaleElementReferenceException:
            return None
    return until(attempt, 10)


def card_text(dash_duo, name) -> str:
    return card_read(dash_duo, name, lambda card: card.text)


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
    groups = [e.text.upper() for e in dash_duo.find_elements(".status-group h6")]
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
    assert "border-danger" in card_read(dash_duo, "Loki", lambda c: c.get_attribute("class"))
    assert "border-success" in card_read(dash_duo, "Redis", lambda c: c.get_attribute("class"))

    def badge(card):
        found = card.find_element(By.CSS_SELECTOR, ".status-state")
        return found.text, found.get_attribute("class")

    text, classes = card_read(dash_duo, "Loki", badge)
    assert text == "Offline" and "bg-danger" in classes
    assert dash_duo.get_logs() == []
