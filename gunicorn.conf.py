"""gunicorn settings for stackscope: ``gunicorn app:server`` from this directory reads them.

Threaded workers (gthread), sized from the same ``[server]`` settings as ``python app.py``'s
waitress, so both hold the same load (bench/viewers.py): a sync worker answers one request at
a time, and a browser polling the Status and Metrics tabs sends several at once.

- ``bind`` from ``server.host``/``server.port``; ``threads`` from ``server.threads`` and
  ``worker_connections`` from ``server.connection_limit`` (both per worker); ``keepalive`` from
  ``server.channel_timeout`` (seconds an idle connection stays open); ``limit_request_*`` left
  at gunicorn's defaults, and the body cap is the app's own (``server.max_request_mb``, 413).
- stackscope's own metrics (``/metrics``): every worker writes its samples to
  ``$PROMETHEUS_MULTIPROC_DIR`` (default ``<cache.dir>/metrics``, emptied here at start), and a
  scrape answered by any worker adds them all up.
- ``log.format = "json"``: gunicorn's own lines are JSON objects too.
- ``workers``: ``$WEB_CONCURRENCY``, else 2. Each worker is a whole dashboard: it builds the
  app on import (``app:server``) and runs its own background prober, so the app must not be
  preloaded (a forked thread does not run). The disk cache and the export queue are shared
  through ``cache.dir``, so N workers still make one upstream call per key and TTL and run at
  most ``exports.max_running`` exports in all; session budgets (``limits.*``) are per worker.

Command-line flags win over this file: ``gunicorn -w 4 -b 0.0.0.0:8050 app:server``.
A bad configuration prints one line naming file, key and value, and exits 2; so does an
address other than loopback with ``auth.mode = "none"`` (checked in ``on_starting``, on the
final bind, flags included), unless ``server.allow_anonymous``.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import telemetry_dir
from config import ConfigError, check_cache_dir, check_file_limit, load_config


def _stackscope_config():
    try:
        found = load_config()
        check_file_limit(found)
        check_cache_dir(found)  # the metrics directory goes in it, below
    except ConfigError as exc:
        print(f"stackscope: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return found


_config = _stackscope_config()
_server = _config.server
_host = f"[{_server.host}]" if ":" in _server.host else _server.host

bind = [f"{_host}:{_server.port}"]
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", 2))
threads = _server.threads
worker_connections = _server.connection_limit
keepalive = _server.channel_timeout
preload_app = False


def on_starting(server):
    """Refuse anonymous serving beyond loopback, on the addresses gunicorn will bind."""
    import login

    for address in server.cfg.address:
        if isinstance(address, tuple):  # (host, port); a str is a unix socket: local
            try:
                warning = login.check_exposure(_config, address[0])
            except ConfigError as exc:
                print(f"stackscope: {exc}", file=sys.stderr)
                raise SystemExit(2) from None
            if warning:
                server.log.warning("stackscope: %s", warning)
# Set before any worker imports prometheus_client (the app does, once forked).
telemetry_dir.use(_config.cache.dir, wipe=True)


def child_exit(server, worker):
    """A worker is gone: its live gauges no longer count."""
    telemetry_dir.process_gone(worker.pid)


if _config.log.format == "json":
    _handler = {"class": "logging.StreamHandler", "formatter": "json",
                "stream": "ext://sys.stderr"}
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "logsetup.JsonFormatter"}},
        "handlers": {"stderr": _handler},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {name: {"level": "INFO", "handlers": ["stderr"], "propagate": False}
                    for name in ("gunicorn.error", "gunicorn.access")},
    }
