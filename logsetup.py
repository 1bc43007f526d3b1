"""How stackscope logs: readable lines by default, or one JSON object a line (``log.format``).

A JSON record carries ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, then
what is known of the request being served: its ``path``, the Dash ``callback`` (the output it
asked for, as the ``/metrics`` histogram names it) and the browser ``session``; a failure adds
``exc`` (the traceback). Records logged outside a request (the background prober, an export
worker) have the first four only.
"""

from __future__ import annotations

import json
import logging
import sys
import time

TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"


def request_context() -> dict:
    """``path``, ``callback`` and ``session`` of the request being served, as far as known."""
    try:
        import flask
    except ImportError:  # pragma: no cover (flask comes with dash)
        return {}
    if not flask.has_request_context():
        return {}
    from callbacks import session

    found = {"path": flask.request.path}
    callback = flask.g.get("stackscope_callback")
    if callback:
        found["callback"] = callback
    sid = session.current()
    if sid != session.ANONYMOUS:
        found["session"] = sid
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **request_context(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exc"] = self.formatStack(record.stack_info)
        # ensure_ascii: a log line stays one line of plain text whatever the message holds.
        return json.dumps(entry, default=str)


def formatter(kind: str) -> logging.Formatter:
    """The formatter of ``log.format``: ``json`` or ``text``."""
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def configure(kind: str, *, level: int = logging.INFO, stream=None) -> logging.Handler | None:
    """Send every logger's records to ``stream`` (stderr) in ``kind``; calling it again
    switches format. Like ``logging.basicConfig``, it leaves a root logger that someone else
    set up alone (gunicorn's ``logconfig_dict``, a test harness): None then."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "stackscope", False)]
    if len(ours) < len(root.handlers):
        return None
    for old in ours:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.stackscope = True
    handler.setFormatter(formatter(kind))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
