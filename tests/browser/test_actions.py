"""An action in headless Chromium: click Restart on a card, confirm, see the webhook's answer.

The webhook is the demo action engine restarting a real demo API (tests/actions_stack.py);
the cards are redrawn every second meanwhile, as on a live Status tab.
"""

from __future__ import annotations

from selenium.common.exceptions import StaleElementReferenceException

from app import create_app
from stack.poll import until


def config_toml(stack) -> str:
    return f"""
[refresh]
status = 1

[[services]]
name = "Demo API"
kind = "http"
port = {stack.api().port}
path = "/health"
group = "app"

[[actions]]
name = "Restart"
services = "Demo API"
url = "{stack.url}/restart"
body = '{{"service": "{{service}}", "by": "{{user}}"}}'
headers = {{ Authorization = "Bearer {stack.token}" }}
confirm = "Restart the demo API?"
timeout = 30
"""


def click_action(dash_duo, action: str, service: str) -> None:
    """Click a card's action button; the card may be redrawn under the click: try again."""
    selector = f'[id*=\'"action":"{action}"\'][id*=\'"service":"{service}"\']'

    def attempt():
        try:
            dash_duo.find_element(selector).click()
            return True
        except StaleElementReferenceException:
            return False
    until(attempt, 10)


def test_restart_from_a_card_confirms_runs_and_shows_the_answer(dash_duo, write_config,
                                                                action_engine_stack, screens):
    stack = action_engine_stack
    before = stack.api().popen.pid
    dash_duo.start_server(create_app(write_config(config_toml(stack))))
    dash_duo.wait_for_text_to_equal("#status-summary", "1/1 services up", timeout=15)

    click_action(dash_duo, "Restart", "Demo API")
    dash_duo.wait_for_contains_text("#action-prompt", "Restart the demo API?", timeout=10)
    prompt = dash_duo.find_element("#action-prompt").text
    assert "Demo API" in prompt and "anonymous (admin)" in prompt
    assert stack.api().popen.pid == before  # nothing runs before the confirmation

    dash_duo.find_element("#action-confirm").click()
    dash_duo.wait_for_contains_text("#action-result", "HTTP 200 OK", timeout=40)
    after = stack.api().popen.pid
    answer = dash_duo.find_element("#action-result").text
    assert after != before and f'"pid": {after}' in answer and stack.token not in answer
    assert not dash_duo.find_element("#action-confirm").is_enabled()  # one confirmation, one run
    dash_duo.driver.save_screenshot(str(screens / "action.png"))

    dash_duo.find_element("#action-cancel").click()
    until(lambda: not dash_duo.find_elements("#action-prompt"), 10)
    dash_duo.wait_for_text_to_equal("#status-summary", "1/1 services up", timeout=15)
    assert dash_duo.get_logs() == []
