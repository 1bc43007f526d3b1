"""stackscope: a Plotly Dash dashboard for a small ops stack.

    python app.py [--host H] [--port P] [--config FILE]   serve the dashboard
    python app.py check [--config FILE] [--json]           probe every service once
    python app.py export-logs --query Q --start T --end T --output F.csv
                                                           a whole range of logs to CSV
    python app.py hash-password < password.txt             a password_hash for [[auth.users]]
    gunicorn app:server                                    serve with gunicorn
    celery -A app.celery_app worker                        run exports (exports.broker)
"""

from __future__ import annotations

import argparse
import errno
import importlib.metadata
import importlib.util
import json
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import export_cli
from config import Config, ConfigError, check_cache_dir, check_file_limit, load_config

# Dash, pandas and the datasources are imported by the functions that use them: a bad
# configuration (or --help) answers in a tenth of a second instead of after two of imports.
if TYPE_CHECKING:
    from dash import Dash

    from datasources.cache import Cache
    from datasources.probes import ProbeResult

log = logging.getLogger("stackscope")


def create_app(config: Config, cache: Cache | None = None, *,
               probe_in_background: bool = False) -> Dash:
    """Build the Dash app for ``config``; tests pass their own cache.

    A served app keeps probing with no browser open (``probe_in_background``), so the probe
    history and its uptime figures have no holes.
    """
    from dash import Dash

    import access
    import compression
    import export_workers
    import login
    from callbacks import build_deps, register_all
    from layouts.shell import shell

    deps = build_deps(config, cache)
    if probe_in_background:
        deps.status.probe_in_background(config.refresh.status)
    app = Dash(
        __name__,
        title="stackscope",
        external_stylesheets=[BOOTSTRAP_CSS],
        health_endpoint="health",
        background_callback_manager=export_workers.background_manager(config),
        compress=False,  # compression.install configures flask-compress itself
        # the renderer echoes this cookie in this header on every request (login.py's CSRF)
        csrf_token_name=login.CSRF_COOKIE, csrf_header_name=login.CSRF_HEADER,
    )
    login.install(app.server, config)  # first: no other hook runs for a refused request
    # Dash parses a request body whole: refuse a huge one before it is read (HTTP 413).
    app.server.config["MAX_CONTENT_LENGTH"] = max_request_bytes(config)
    add_routes(app.server, config)
    refuse_unknown_callbacks(app)
    install_telemetry(app, config)
    compression.install(app.server, compress=config.server.compress)
    # The prober keeps a round ready: a served page carries the cards, no round trip first.
    from callbacks.status import first_paint
    cards = (lambda: first_paint(deps)) if probe_in_background else (lambda: None)
    app.layout = lambda: shell(config, cards(), tab=opened_tab(), user=access.current_user())
    register_all(app, deps)
    return app


def refuse_unknown_callbacks(app: Dash) -> None:
    """A page served by another version of stackscope (a tab left open across an upgrade)
    posts callbacks this one does not have: HTTP 400 saying to reload, where Dash's own
    ``KeyError`` would be a 500 with a traceback in the log on every refresh."""
    from flask import request

    from login import UPDATE_COMPONENT
    from query.limits import Rejected

    @app.server.before_request
    def known_callback():
        if request.path != UPDATE_COMPONENT:
            return
        body = request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        if not isinstance(output, str) or output not in app.callback_map:
            raise Rejected("This page asks for an update this version of stackscope does not "
                           "have (the page is older or newer than the server): reload it.")


def install_telemetry(app: Dash, config: Config) -> None:
    """``/metrics`` and the callback timings behind it (telemetry.py)."""
    import telemetry

    sessions = telemetry.SessionsSeen(Path(config.cache.dir) / "sessions-seen")
    telemetry.install(app.server, token=config.server.metrics_token, sessions=sessions,
                      known=lambda: app.callback_map)


def opened_tab() -> str | None:
    """The tab the page's own URL names (``?tab=logs``), read from the layout request's
    Referer, so that tab is drawn first rather than Status and then a switch a round trip
    later; None (Status) without one. The URL callback still owns the tab after that."""
    from flask import has_request_context, request

    from layouts import ids
    from query.range_state import known_tab, url_params

    if not has_request_context() or not request.referrer:
        return None
    try:
        wanted = url_params(urlsplit(request.referrer).query).get("tab")
    except ValueError:  # a query string of more fields than url_params reads
        return None
    return known_tab(wanted, ids.TAB_VALUES) if wanted else None


BOOTSTRAP_ROUTE = "/vendor/bootstrap.min.css"
#: The package's version in the URL: a new Bootstrap is a new URL, so browsers may keep it.
BOOTSTRAP_CSS = f"{BOOTSTRAP_ROUTE}?v={importlib.metadata.version('bootstrap-flask')}"


def max_request_bytes(config: Config) -> int:
    """``server.max_request_mb`` in bytes."""
    return int(config.server.max_request_mb * (1 << 20))


def add_routes(server, config: Config) -> None:
    """Every plain Flask route and hook of the app, in one place (Dash owns the rest)."""
    from flask import send_from_directory

    from callbacks import session
    from datasources import export_job
    from query.limits import Rejected

    # Bootstrap's CSS from the installed package: the dashboard must work offline.
    spec = importlib.util.find_spec("flask_bootstrap")
    css = Path(spec.origin).parent / "static" / "bootstrap5" / "css"
    server.add_url_rule(BOOTSTRAP_ROUTE, "bootstrap_css", lambda: send_from_directory(
        css, "bootstrap.min.css", max_age=86400))
    exports = export_job.exports_dir(config.cache.dir, config.exports.dir)
    export_job.prune(exports, keep_seconds=config.exports.keep)
    server.add_url_rule(export_job.ROUTE + "<path:name>", "logs_export_file",
                        lambda name: send_export(exports, name, config.exports.keep))
    # A value the browser sent that the server will not act on (query/limits.py): 400 with
    # the reason, where an unhandled error would be a 500.
    server.register_error_handler(Rejected, lambda exc: (
        str(exc), 400, {"Content-Type": "text/plain; charset=utf-8"}))
    session.install(server)


def send_export(folder: Path, name: str, keep: float):
    """A finished export too large for dcc.Download, streamed from disk, handed over once."""
    from flask import abort, send_file
    from werkzeug.security import safe_join

    from datasources import export_job

    export_job.prune(folder, keep_seconds=keep)
    path = safe_join(str(folder), name)
    try:
        fh = open(path, "rb") if path else None  # noqa: SIM115 (the response closes it)
    except (FileNotFoundError, IsADirectoryError):
        fh = None
    if fh is None:
        abort(404)
    # Unlinked once open: the download streams from the open file, and nobody (this browser
    # again included) can fetch it a second time.
    export_job.remove(path)
    return send_file(fh, mimetype="text/csv", as_attachment=True, download_name=name)


def __getattr__(name: str):
    # `gunicorn app:server` and `from app import app` build the app lazily, from the
    # environment's configuration, so importing create_app stays free of side effects.
    # `celery -A app.celery_app worker` builds it too, without a prober, for its Celery app.
    if name in ("app", "server"):
        built = _app_from_environment(probe_in_background=True)
        globals().update(app=built, server=built.server)
        return globals()[name]
    if name == "celery_app":
        # Celery puts the working directory on sys.path only while it imports this module:
        # the app's own modules are imported later, lazily.
        here = str(Path(__file__).resolve().parent)
        if here not in sys.path:
            sys.path.insert(0, here)
        built = _app_from_environment(probe_in_background=False)
        handle = getattr(built._background_manager, "handle", None)
        if handle is None:
            print("stackscope: exports.broker is not set: exports run in the server, there "
                  "is no Celery app to work for", file=sys.stderr)
            raise SystemExit(2)
        globals().update(celery_app=handle)
        return handle
    raise AttributeError(name)


def _app_from_environment(*, probe_in_background: bool) -> Dash:
    import logsetup
    import telemetry_dir

    try:
        config = load_config()
        check_cache_dir(config)
    except ConfigError as exc:
        print(f"stackscope: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logsetup.configure(config.log.format)
    telemetry_dir.use(config.cache.dir, wipe=False)  # gunicorn.conf.py wiped it at start
    return create_app(config, probe_in_background=probe_in_background)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: serve by default, or a subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own default must not clobber `app.py --config F check`.
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="TOML configuration (default: $STACKSCOPE_CONFIG, ./stackscope.toml)")
    parser = argparse.ArgumentParser(prog="app.py", description=__doc__.splitlines()[0],
                                     parents=[common])
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8050)")
    sub = parser.add_subparsers(dest="command")
    checking = sub.add_parser("check", parents=[common],
                              help="probe every service once; exit 0 if none is down, 1 if any "
                                   "is")
    checking.add_argument("--json", action="store_true",
                          help="print one JSON document instead of a table (for scripts)")
    export_cli.add_parser(sub, [common])
    sub.add_parser("hash-password", help="read a password from stdin, print its password_hash "
                                         "for [[auth.users]]")
    return parser.parse_args(argv)


def hash_password(stdin=None, out=None) -> int:
    """Read one password (a prompt on a terminal, else stdin's first line) and print its hash."""
    import getpass

    import login

    stdin, out = stdin or sys.stdin, out or sys.stdout
    if stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        print("stackscope: hash-password: no password given (stdin was empty)", file=sys.stderr)
        return 2
    out.write(login.hash_password(password) + "\n")
    return 0


def check(config: Config, out=sys.stdout, *, as_json: bool = False) -> int:
    """Probe every service once and print a table (or JSON); 0 when none is down, else 1.

    One round has no earlier ones: a failed probe is down at once (``retries`` applies to the
    dashboard's rounds). Maintenance windows apply: a service in one is not down.
    """
    from datasources.probes import DOWN, apply_maintenance

    results = apply_maintenance(probe_once(config), config.maintenance)
    up = sum(r.up for r in results)
    if as_json:
        out.write(json.dumps(check_document(results), indent=2) + "\n")
    else:
        out.write(format_table(results) + "\n")
        out.write(f"{up}/{len(results)} services up\n")
    return 1 if any(r.state == DOWN for r in results) else 0


def probe_once(config: Config) -> list[ProbeResult]:
    """One round as the dashboard probes it, known answers included, in a throwaway cache."""
    import dataclasses
    import tempfile

    from datasources.status import known_answer_checks, probe_with_known_answers

    bound = max((s.timeout for s in config.services), default=1.0) * 2 + 1
    with tempfile.TemporaryDirectory(prefix="stackscope-check-") as tmp:
        def health(name: str):
            # Built on first use: pandas and requests load only when a service needs them.
            def call():
                from datasources.cache import Cache
                from datasources.loki import Loki
                from datasources.prometheus import Prometheus

                kind = Prometheus if name == "prometheus" else Loki
                # No longer than the round: the process must not wait past it to exit.
                upstream = dataclasses.replace(config.upstream(name), timeout=min(
                    config.upstream(name).timeout, bound))
                return kind(upstream, Cache(Path(tmp) / name)).health()
            return call

        checks = known_answer_checks(config.services, [
            (config.prometheus.url, health("prometheus")), (config.loki.url, health("loki"))])
        return probe_with_known_answers(config.services, checks, bound)


#: what ``check --json`` says of each service
CHECK_FIELDS = ("name", "kind", "target", "group", "state", "up", "latency_ms", "detail",
                "cert_days", "checked_at")


def check_document(results: Sequence[ProbeResult]) -> dict:
    """``check --json``'s document: every service, and how many are up and down."""
    services = [{f: getattr(r, f) for f in CHECK_FIELDS} for r in results]
    return {"services": services, "up": sum(r.up for r in results),
            "down": sum(r.state == "down" for r in results), "total": len(results)}


def format_table(results: Sequence[ProbeResult]) -> str:
    """A plain-text table: name, kind, target, state, latency, detail."""
    rows = [("NAME", "KIND", "TARGET", "STATE", "LATENCY", "DETAIL")]
    for r in results:
        latency = f"{r.latency_ms:.1f} ms" if r.latency_ms is not None else "-"
        state = r.state.upper() if r.state in ("down", "degraded") else r.state
        rows.append((r.name, r.kind, r.target, state, latency, r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  "
                     + row[-1] for row in rows)


def listen(config: Config) -> list[socket.socket]:
    """Bind ``server.host``:``server.port`` now: a taken port is a config error, not a traceback.

    The sockets are handed to waitress, so nothing can take the port in between. Resolution
    and options follow waitress's own (every address the host resolves to, SO_REUSEADDR,
    IPv6 sockets IPv6-only).
    """
    check_file_limit(config)  # server.connection_limit sockets must fit, checked up front
    host, port = config.server.host, config.server.port
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a label IDNA cannot encode
        raise ConfigError(config.origin("server.host"), "server.host", host,
                          f"cannot listen there: host name not resolved ({exc})") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        # EADDRNOTAVAIL: no such address on this machine; anything else is about the port.
        key, value = (("server.host", host) if exc.errno == errno.EADDRNOTAVAIL
                      else ("server.port", port))
        raise ConfigError(config.origin(key), key, value,
                          f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sockets


def check_exposure(config: Config, sockets: list[socket.socket]) -> str | None:
    """``login.check_exposure`` (imported only when serving: it imports Flask); the sockets
    are closed when it refuses."""
    import login

    try:
        return login.check_exposure(config)
    except ConfigError:
        for sock in sockets:
            sock.close()
        raise


def serve(config: Config, sockets: list[socket.socket]) -> None:
    """Serve the dashboard with waitress (a production WSGI server, threads, no reloader)."""
    import waitress

    dash_app = create_app(config, probe_in_background=True)
    log.info("stackscope on http://%s:%s (config: %s)", config.server.host, config.server.port,
             config.source)
    waitress.serve(dash_app.server, sockets=sockets, ident="stackscope",
                   **waitress_options(config))


def waitress_options(config: Config) -> dict:
    """waitress' settings from ``[server]``: sized for browsers that hold 6 connections each."""
    server = config.server
    return {
        "threads": server.threads,
        "connection_limit": server.connection_limit,
        "channel_timeout": server.channel_timeout,
        # Idle channels are looked for every cleanup_interval (30 s by default): a shorter
        # channel_timeout would otherwise be rounded up to it.
        "cleanup_interval": max(1, min(30, server.channel_timeout // 2)),
        # select() cannot watch a descriptor numbered 1024 or more: poll() has no such limit.
        "asyncore_use_poll": True,
        # waitress buffers a whole body before the app sees it: the same cap, at the door.
        "max_request_body_size": max_request_bytes(config),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    import logsetup

    args = parse_args(argv)
    if args.command == "hash-password":  # needs no configuration
        return hash_password()
    logsetup.configure("text")
    warning = None
    try:
        flags = {"server.host": getattr(args, "host", None),
                 "server.port": getattr(args, "port", None)}
        config = load_config(getattr(args, "config", None), flags=flags)
        if args.command is None:  # serving: its directory and its address must work too
            check_cache_dir(config)
            sockets = listen(config)  # first: an address that cannot be bound says so
            warning = check_exposure(config, sockets)
    except ConfigError as exc:
        print(f"stackscope: {exc}", file=sys.stderr)
        return 2
    logsetup.configure(config.log.format)
    if warning:
        log.warning("%s", warning)
    if args.command == "check":
        return check(config, as_json=args.json)
    if args.command == "export-logs":
        return export_cli.run(args, config)
    import telemetry_dir

    telemetry_dir.use(config.cache.dir, wipe=True)  # before prometheus_client is imported
    serve(config, sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
