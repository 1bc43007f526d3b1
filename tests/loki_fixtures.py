"""Fixtures serving Loki's API (``stack.loki_api``): a session-wide demo set, or one per test.

    loki_double       (session) a ``LokiAPI`` with ``demo_entries()`` loaded
    make_loki_double  factory: ``make_loki_double(entries, max_entries=…)`` → a started
                      ``LokiAPI`` holding ``entries``, stopped after the test

Use with ``pytest_plugins = ["tests.loki_fixtures"]`` in the root conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from stack.loki_api import LokiAPI

#: 2024-05-01T12:00:00Z in nanoseconds: the demo data set starts here.
DEMO_START = 1_714_564_800 * 10**9


def demo_entries() -> list[tuple]:
    """A small data set like the backend's: JSON lines, two services, levels, a shared line."""
    api = {"app": "api", "env": "demo"}
    worker = {"app": "worker", "env": "demo"}
    entries = []
    for i in range(60):
        t = DEMO_START + i * 1_000_000_000 + 123
        level = ("info", "warning", "error")[i % 3]
        line = json.dumps({"timestamp": f"2024-05-01T12:00:{i:02d}Z", "level": level,
                           "logger": "api.tasks", "message": f"task {i} {level}",
                           "request_id": f"req-{i:04d}", "user_id": str(i % 7)})
        entries.append((t, api, line, {"trace_id": f"{i:032x}"}))
        entries.append((t + 500_000_000, worker, f"level={level} msg=\"job {i}\""))
    entries.append((DEMO_START + 30 * 10**9, api, "shared line at one instant"))
    entries.append((DEMO_START + 30 * 10**9, worker, "shared line at one instant"))
    return entries


@pytest.fixture(scope="session")
def loki_double():
    """A Loki API stand-in with ``demo_entries()`` loaded, for the whole session."""
    with LokiAPI() as api:
        api.load(demo_entries())
        yield api


@pytest.fixture
def make_loki_double():
    """Factory: ``make_loki_double(entries, max_entries=…)`` → a started stand-in for this test."""
    started = []

    def make(entries: Iterable = (), **kwargs) -> LokiAPI:
        api = LokiAPI(**kwargs).start()
        started.append(api)
        return api.load(entries)

    yield make
    for api in started:
        api.stop()
