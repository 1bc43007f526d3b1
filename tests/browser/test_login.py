"""Signing in with HTTP Basic in headless Chromium: the navbar names the user, the renderer's
callbacks pass the CSRF check, and an admin reads the audit log."""

from __future__ import annotations

import base64

from selenium.webdriver.common.by import By

from app import create_app
from layouts import ids
from stack.poll import until
from tests.test_login import HASH, PASSWORD

USERS = f"""[auth]
mode = "basic"
[[auth.users]]
name = "ada"
password_hash = "{HASH}"
role = "admin"
"""


def test_basic_login_shows_the_user_and_an_admin_reads_the_audit_log(dash_duo, write_config):
    app = create_app(write_config(USERS))
    dash_duo.start_server(app, navigate=False)
    client = app.server.test_client()
    client.get("/", headers={"Authorization": "Basic " + base64.b64encode(b"ada:nope").decode()})
    # Credentials in the URL are not sent with the page's own fetches; a header on every
    # request (Chrome DevTools Protocol) is what a browser behind a login would send.
    token = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    dash_duo.driver.execute_cdp_cmd("Network.enable", {})
    dash_duo.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                                    {"headers": {"Authorization": f"Basic {token}"}})
    dash_duo.driver.get(dash_duo.server.url + "/")
    dash_duo.wait_for_text_to_equal(f"#{ids.NAV_USER}", "ada (admin)", timeout=20)
    assert dash_duo.find_element(f"#{ids.NAV_CONFIG}").text.startswith("config: ")
    dash_duo.find_element(f"#{ids.AUDIT_OPEN}").click()  # a callback: past the CSRF check
    body = until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, f"#{ids.AUDIT_BODY} td"),
                 20)
    assert "wrong name or password" in " ".join(cell.text for cell in body)
    assert dash_duo.get_logs() == []
