"""Who is asking, and what they may do: the one place callbacks and routes ask.

Rights by role (each role has the rights of the one before it):

    viewer    view, export
    operator  + silence, action
    admin     + config, audit

With ``auth.mode = "none"`` (loopback only) every request is the anonymous admin. The login
middleware (``login.py``, ``auth.mode`` basic or proxy) puts the signed-in user on ``flask.g``.

A callback that needs a right calls :func:`require` (raised in the request, Dash lets the
``Forbidden`` through as HTTP 403) and also declares it with :func:`guard_output`: the login
middleware then refuses the POST before Dash runs anything, which also covers background
callbacks (they run in a job process, outside the request, where :func:`current_user` cannot
see who asked).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from werkzeug.exceptions import Forbidden as _HTTPForbidden

ROLES = ("viewer", "operator", "admin")
RIGHTS = {
    "viewer": frozenset({"view", "export"}),
    "operator": frozenset({"view", "export", "silence", "action"}),
    "admin": frozenset({"view", "export", "silence", "action", "config", "audit"}),
}

audit_log = logging.getLogger("stackscope.audit")


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def may(self, right: str) -> bool:
        return right in RIGHTS.get(self.role, frozenset())


ANONYMOUS = User("anonymous", "admin")


class Forbidden(_HTTPForbidden):
    """A signed-in user asked for a right their role lacks: HTTP 403, on the server."""


def current_user() -> User:
    """The user of the request being served (the anonymous admin outside a request or
    when auth is off)."""
    from flask import g, has_request_context

    if has_request_context():
        return g.get("stackscope_user", ANONYMOUS)
    return ANONYMOUS


def require(right: str) -> User:
    """The current user, or :class:`Forbidden` when their role lacks ``right``."""
    user = current_user()
    if not user.may(right):
        raise Forbidden(f"{user.name} ({user.role}) may not {right}")
    return user


#: callback output id -> the right a user needs to have that callback run (``guard_output``)
GUARDED_OUTPUTS: dict[str, str] = {}


def guard_output(component_id: str, right: str) -> None:
    """Refuse, before Dash runs it, any callback writing ``component_id`` to users without
    ``right`` (checked by the login middleware on ``/_dash-update-component``)."""
    if not any(right in rights for rights in RIGHTS.values()):
        raise ValueError(f"unknown right {right!r}")
    GUARDED_OUTPUTS[component_id] = right


def audit(event: str, result: str, **fields) -> dict:
    """Record who did what and how it ended, as one JSON object (returned too).

    ``user`` in ``fields`` names someone other than the current user (a refused login's
    attempted name). The entry goes to the app log and, when the app has one, to its
    audit file (``<cache.dir>/audit.log``).
    """
    user = current_user()
    entry = {"time": time.time(), "user": user.name, "role": user.role,
             "event": event, "result": result, **_request_fields(), **fields}
    line = json.dumps(entry, default=str, sort_keys=True)
    audit_log.info(line)
    sink = _app_audit_file()
    if sink is not None:
        sink.write(line)
    return entry


def _request_fields() -> dict:
    from flask import has_request_context, request

    return {"addr": request.remote_addr} if has_request_context() else {}


EXTENSION = "stackscope_audit"


class AuditFile:
    """JSON lines in one file, rotated to ``<name>.1`` past ``max_bytes`` (two files at most)."""

    def __init__(self, path: Path, max_bytes: int):
        self.path = Path(path)
        self._handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=max_bytes, backupCount=1, encoding="utf-8", delay=True)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        """Append one entry (rotating first when the file is full)."""
        record = logging.LogRecord("stackscope.audit", logging.INFO, __file__, 0, line, None,
                                   None)
        with self._lock:
            self._handler.emit(record)

    def recent(self, count: int = 50) -> list[dict]:
        """The last ``count`` entries, newest first (lines that are not JSON are skipped)."""
        lines: deque[str] = deque(maxlen=count)
        for path in (self.path.with_name(self.path.name + ".1"), self.path):
            lines.extend(_tail(path, TAIL_BYTES))
        entries = []
        for line in reversed(lines):
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries


#: read from the end of each audit file for the latest entries (not the whole 10 MiB)
TAIL_BYTES = 1 << 20


def _tail(path: Path, size: int) -> list[str]:
    """The whole lines in the last ``size`` bytes of ``path`` ([] when it does not exist)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            start = max(0, fh.tell() - size)
            fh.seek(start)
            data = fh.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if start else lines  # the first may be cut


def install_audit_file(server, path: Path, max_bytes: int) -> AuditFile:
    """Give the Flask app ``server`` its audit file."""
    sink = AuditFile(path, max_bytes)
    server.extensions[EXTENSION] = sink
    return sink


def _app_audit_file() -> AuditFile | None:
    from flask import current_app, has_app_context

    return current_app.extensions.get(EXTENSION) if has_app_context() else None


def recent_audit(count: int = 50) -> list[dict]:
    """The last entries of the current app's audit file, for an admin (``Forbidden`` else)."""
    require("audit")
    sink = _app_audit_file()
    return sink.recent(count) if sink is not None else []
