"""Who is asking, and what they may do: the one place callbacks and routes ask.

Rights by role (each role has the rights of the one before it):

    viewer    view, export
    operator  + silence, action
    admin     + config, audit

With ``auth.mode = "none"`` (loopback only) every request is the anonymous admin. The login
middleware (``auth.mode`` basic or proxy) puts the signed-in user on ``flask.g``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

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


def audit(event: str, result: str, **fields) -> dict:
    """Record who did what and how it ended, as one JSON object (returned too)."""
    user = current_user()
    entry = {"time": time.time(), "user": user.name, "role": user.role,
             "event": event, "result": result, **fields}
    audit_log.info(json.dumps(entry, default=str, sort_keys=True))
    return entry
