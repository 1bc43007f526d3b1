"""Shared fixtures: real servers (tests/servers.py), app configs, headless Chromium for dash_duo."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
from selenium.webdriver.chrome.options import Options

from config import load_config
from tests import loki_bodies

pytest_plugins = ["tests.servers", "tests.metrics_stack", "tests.loki_fixtures",
                  "tests.actions_stack", "tests.histogram_stack"]

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"

# Debian's Chromium; dash[testing] reads this to find the browser binary.
os.environ.setdefault("DASH_TEST_CHROMEPATH", shutil.which("chromium") or "/usr/bin/chromium")


def pytest_setup_options():
    """Chromium flags for a machine with no network beyond loopback.

    Reduced motion turns off Bootstrap's ``scroll-behavior: smooth``: chromedriver scrolls
    an element into view and clicks at once, so with smooth scrolling a click on anything
    below the fold lands on the point the element will reach, not where it is
    ("element click intercepted"), on every try."""
    options = Options()
    for arg in ("--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run",
                "--window-size=1400,1000", "--force-prefers-reduced-motion"):
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


# --- Loki bodies: the project's own always, the real-Loki corpus when it is beside us ---------

def pytest_configure(config):
    config.addinivalue_line("markers", "conformance: a case on the real-Loki bodies in "
                            "../shared/fixtures/loki (generated only when that folder exists)")
    config.addinivalue_line("markers", "loki_bodies(where=…): run on every Loki body (own, and "
                            "real when present) whose tests.loki_bodies.Body passes where")


def pytest_generate_tests(metafunc):
    """Give ``corpus`` and ``loki_body`` one case per present corpus or indexed body."""
    if "corpus" in metafunc.fixturenames:
        metafunc.parametrize("corpus", [pytest.param(c, id=c.name, marks=c.marks)
                                        for c in loki_bodies.corpora()])
    if "loki_body" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("loki_bodies")
        where = marker.kwargs["where"] if marker else (lambda body: True)
        metafunc.parametrize("loki_body", [pytest.param(b, id=b.id, marks=b.corpus.marks)
                                           for b in loki_bodies.bodies(where)])


def pytest_terminal_summary(terminalreporter):
    """Name the real-Loki conformance run: how its cases went, or that it was not included."""
    outcomes: dict[str, int] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            # a case counts once: by its call, or by its setup when that failed or skipped
            counted = isinstance(report, pytest.TestReport) and (
                report.when == "call" or (report.when == "setup" and not report.passed))
            if counted and "conformance" in report.keywords:
                outcomes[report.outcome] = outcomes.get(report.outcome, 0) + 1
    line = loki_bodies.summary_line(outcomes)
    if line:
        terminalreporter.write_line(line)
