"""Shared fixtures: real servers (tests/servers.py), app configs, headless Chromium for dash_duo."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
from selenium.webdriver.chrome.options import Options

from config import load_config

pytest_plugins = ["tests.servers", "tests.metrics_stack", "tests.loki_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"

# Debian's Chromium; dash[testing] reads this to find the browser binary.
os.environ.setdefault("DASH_TEST_CHROMEPATH", shutil.which("chromium") or "/usr/bin/chromium")


def pytest_setup_options():
    """Chromium flags for a machine with no network beyond loopback."""
    options = Options()
    for arg in ("--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    return options


@pytest.fixture
def screens(tmp_path) -> Path:
    """Where a browser test saves its screenshots: $STACKSCOPE_TEST_SCREENS, else its tmp_path.

    Set the variable to collect one run's screenshots in one place (for docs/).
    """
    folder = Path(os.environ.get("STACKSCOPE_TEST_SCREENS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def write_config(tmp_path):
    """Write a TOML config (with its cache in tmp_path) and load it."""

    def write(body: str = "", name: str = "stackscope.toml", **flags):
        path = tmp_path / name
        cache = f'[cache]\ndir = "{tmp_path / "cache"}"\n' if "[cache]" not in body else ""
        path.write_text(cache + textwrap.dedent(body))
        return load_config(str(path), env={}, flags=flags)

    return write
