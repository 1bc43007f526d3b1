"""Serving to a team, end to end in headless Chromium: an operator signs in (HTTP Basic),
silences an alert in the real Alertmanager and restarts the demo API with a confirmed action;
both are in the audit log under their name."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

from selenium.webdriver.common.by import By

from app import create_app
from layouts import ids
from tests.browser.test_actions import click_action
from tests.browser.test_actions import config_toml as actions_toml
from tests.browser.test_alerts import post_alerts, read
from tests.test_login import HASH, PASSWORD


def sign_in(dash_duo, user: str, password: str) -> None:
    """Every request of the page carries the Authorization header, as behind a login."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    dash_duo.driver.execute_cdp_cmd("Network.enable", {})
    dash_duo.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                                    {"headers": {"Authorization": f"Basic {token}"}})


def test_an_operator_signs_in_silences_an_alert_and_restarts_a_service(
        dash_duo, write_config, alertmanager_server, action_engine_stack):
    name = f"Team{uuid.uuid4().hex[:8]}"
    post_alerts(alertmanager_server.url, name, "a")
    config = write_config(actions_toml(action_engine_stack) + f"""
[auth]
mode = "basic"
[[auth.users]]
name = "olga"
password_hash = "{HASH}"
role = "operator"

[alertmanager]
url = "{alertmanager_server.url}"
notify = false
""")
    dash_duo.start_server(create_app(config), navigate=False)
    sign_in(dash_duo, "olga", PASSWORD)
    dash_duo.driver.get(dash_duo.server.url + "/")
    dash_duo.wait_for_text_to_equal(f"#{ids.NAV_USER}", "olga (operator)", timeout=20)
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, f"#{ids.NAV_CONFIG}")  # admins

    group = f'.alert-group[data-alertname="{name}"]'
    read(dash_duo, group, lambda g: g.find_element(By.CSS_SELECTOR, ".silence-open").click()
         or True)
    dash_duo.wait_for_element("#silence-comment", timeout=10).send_keys("deploying a fix")
    dash_duo.find_element("#silence-create").click()
    dash_duo.wait_for_contains_text("#alerts-feedback", f"Silenced {name}", timeout=15)
    read(dash_duo, group, lambda g: "silenced" in g.text)

    before = action_engine_stack.api().popen.pid
    click_action(dash_duo, "Restart", "Demo API")
    dash_duo.wait_for_contains_text("#action-prompt", "olga (operator)", timeout=10)
    dash_duo.find_element("#action-confirm").click()
    dash_duo.wait_for_contains_text("#action-result", "HTTP 200 OK", timeout=40)
    assert action_engine_stack.api().popen.pid != before

    audit = Path(config.cache.dir) / "audit.log"
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    done = {(e["event"], e["result"]) for e in entries if e["user"] == "olga"}
    assert {("silence.create", "ok"), ("action.run", "ok")} <= done
    assert dash_duo.get_logs() == []
