"""A real demo API under a real supervisor, and the demo action engine restarting it.

Fixture (session-wide): ``action_engine`` -> ``ActionStack``: ``.url`` of the engine (POST
/restart {"service": "api"} with ``Authorization: Bearer <.token>``), ``.api()`` the demo
API's current ``Proc`` (a restart replaces it), ``.supervisor``.
Use with ``pytest_plugins`` (the root conftest.py lists it).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from stack import action_engine, run, services
from stack.supervise import Supervisor

TOKEN = "tok-action-5e1f0c"


@dataclass
class ActionStack:
    engine: action_engine.Engine
    supervisor: Supervisor
    token: str = TOKEN

    @property
    def url(self) -> str:
        return self.engine.url

    def api(self) -> services.Proc:
        return self.supervisor.procs["api"]


@pytest.fixture(scope="session")
def action_engine_stack(tmp_path_factory, redis_server):
    """The demo API (on ``redis_server``), its supervisor and the action engine."""
    d = tmp_path_factory.mktemp("actions")
    host = services.LOCALHOST
    port = services.free_port()

    def start_api():
        return run.start_api(d / "api", port, host=host, redis=f"{host}:{redis_server.port}",
                             log_file=d / "logs" / "api.log", traffic_url="off")

    supervisor = Supervisor({"api": start_api()}, {"api": start_api}, say=lambda line: None)
    engine = action_engine.start(host, 0, supervisor.restart, {"api": "api", "Demo API": "api"},
                                 token=TOKEN)
    try:
        yield ActionStack(engine, supervisor)
    finally:
        engine.shutdown()
        engine.server_close()
        supervisor.procs["api"].stop()
