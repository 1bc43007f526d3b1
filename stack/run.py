"""`make run`: a real local stack on 127.0.0.1 with a week of history, and the dashboard on it.

    python -m stack.run [--dir .stack] [--PORT-NAME-port N ...] [--free-ports]
                        [--history-days 7] [--reset-history] [--no-dashboard]
                        [--restart-delay 1] [--replicas 1]

Starts Redis, node_exporter, the demo API (``stack.demo_api``), NGINX in front of it,
Alertmanager, Loki and Promtail when their binaries are on PATH, then writes the history once
(``stack.history``) and starts Prometheus on it, and, without Loki, the demo log store
(``stack.log_store``) on Loki's port, its logs backfilled for the same week; then writes
``<dir>/stackscope.toml`` and serves the dashboard (``app.py --config``) on it. All state stays
under ``--dir``. ``--replicas N`` (N > 1) serves N dashboards sharing the demo's Redis, a
Celery worker for their exports, and NGINX in front of them on the dashboard's port
(``stack.replicas``).

Every server runs in its own process group (``stack.services``); one that exits is restarted
with backoff (``stack.supervise``) while the rest, the dashboard included, stay up; Ctrl-C or
SIGTERM stops them all. A small watchdog process holds one end of a pipe whose other end
only this process has: if this process dies, even by SIGKILL, the pipe closes and the watchdog
ends every group still registered, so nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template

from stack import action_engine, replicas, services
from stack.demo_api import NATIVE_PATH
from stack.history import DEFAULT_DAYS, History, Targets, ensure_history
from stack.history import MARKER as HISTORY_MARKER
from stack.supervise import Supervisor

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = Path(__file__).with_name("config")
HOST = services.LOCALHOST
#: Commands the stack cannot run without: the "demo" set's (Loki and Promtail are optional).
NEEDED = tuple(c for p in services.PACKAGES if "demo" in p.sets for c in p.commands)


@dataclass(frozen=True)
class Port:
    """One of the stack's ports: its default and how to change it."""

    key: str
    label: str
    default: int

    @property
    def env(self) -> str:
        return f"STACKSCOPE_STACK_{self.key.upper()}_PORT"

    @property
    def flag(self) -> str:
        return f"--{self.key.replace('_', '-')}-port"


PORTS = (
    Port("dashboard", "the dashboard", 8050),
    Port("prometheus", "Prometheus", 9090),
    Port("alertmanager", "Alertmanager", 9093),
    Port("node_exporter", "node_exporter", 9100),
    Port("redis", "Redis", 6379),
    Port("nginx", "NGINX", 8080),
    Port("api", "the demo API", 8000),
    Port("loki", "Loki", 3100),
    Port("promtail", "Promtail", 9080),
    Port("actions", "the demo action engine", 8003),
)
PORTS_BY_KEY = {p.key: p for p in PORTS}


class StackError(Exception):
    """The stack cannot start; the message says what to do."""


class Shutdown(Exception):
    """SIGTERM or SIGHUP arrived: stop the stack as for Ctrl-C."""


# ---------------------------------------------------------------- ports and packages


def resolve_ports(flags: Mapping[str, int | None], env: Mapping[str, str], *,
                  free: bool = False, pick: Callable[[], int] = services.free_port
                  ) -> dict[str, int]:
    """Each port: flag > STACKSCOPE_STACK_<NAME>_PORT > (a free port if ``free``) > default."""
    ports = {}
    for p in PORTS:
        if flags.get(p.key) is not None:
            ports[p.key] = port_number(str(flags[p.key]), p.flag)
        elif env.get(p.env):
            ports[p.key] = port_number(env[p.env], p.env)
        else:
            ports[p.key] = pick() if free else p.default
    return ports


def port_number(text: str, where: str) -> int:
    """``text`` as a port number; StackError naming ``where`` when it is not one."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise StackError(f"{where} {text!r}: must be a port number (1-65535)")
    return int(text)


def port_problems(ports: Mapping[str, int], keys, host: str = HOST) -> list[str]:
    """One line per port in ``keys`` that is taken or shared, naming how to change it."""
    problems, seen = [], {}
    for key in keys:
        p, number = PORTS_BY_KEY[key], ports[key]
        if number in seen:
            problems.append(f"{p.label} and {seen[number]} both have port {number}; "
                            f"set {p.env}=<port> (or {p.flag} <port>)")
        seen[number] = p.label
        if not port_is_free(host, number):
            problems.append(f"port {number} for {p.label} is taken{listener(number)}; stop it, "
                            f"or set {p.env}=<port> (or pass {p.flag} <port>)")
    return problems


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def listener(port: int) -> str:
    """' by pid 42 (redis-server)' when the process listening on ``port`` can be seen."""
    import psutil

    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return f" by pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except (psutil.Error, OSError):
        pass
    return ""


def missing_packages(find: Callable[[str], str] = services.find_binary) -> list[str]:
    """Debian packages whose commands the stack needs and cannot find."""
    missing = set()
    for command in NEEDED:
        try:
            find(command)
        except services.MissingBinaryError:
            missing.add(services.BINARIES[command][1])
    return sorted(missing)


def install_packages(packages: list[str], *, is_root: bool, script: Path) -> None:
    """Install ``packages`` when root; otherwise raise with the exact apt-get command."""
    command = f"sudo apt-get install -y --no-install-recommends {' '.join(packages)}"
    if not is_root or not script.is_file():
        raise StackError(f"missing Debian packages: {' '.join(packages)}; run: {command}")
    if subprocess.run(["bash", str(script), *packages], check=False).returncode != 0:
        raise StackError(f"installing {' '.join(packages)} failed; try: {command}")


def want_loki() -> bool:
    """Loki and Promtail run only when both binaries are on PATH (no registry here has them)."""
    return bool(shutil.which("loki") and shutil.which("promtail"))


# ---------------------------------------------------------------- the stack


@dataclass
class Stack:
    """The started servers, in start order; ``stop()`` ends them in reverse."""

    dir: Path
    host: str
    ports: dict[str, int]
    procs: dict[str, services.Proc] = field(default_factory=dict)
    #: how to start each server again (the supervisor restarts one that exits)
    starters: dict[str, Callable[[], services.Proc]] = field(default_factory=dict)
    history: History | None = None
    #: True when the demo log store (not a real Loki) answers on Loki's port
    log_store: bool = False
    on_start: Callable[[services.Proc], None] = lambda proc: None
    on_stop: Callable[[services.Proc], None] = lambda proc: None

    def url(self, key: str) -> str:
        """``http://host:port`` of one of the stack's servers."""
        return f"http://{self.host}:{self.ports[key]}"

    def add(self, key: str, proc: services.Proc) -> services.Proc:
        """Keep ``proc`` to stop it later."""
        self.procs[key] = proc
        self.on_start(proc)
        return proc

    def start(self, key: str, starter: Callable[[], services.Proc]) -> services.Proc:
        """Start a server with ``starter`` and keep both, so it can be started again."""
        self.starters[key] = starter
        return self.add(key, starter())

    def replaced(self, old: services.Proc, new: services.Proc) -> None:
        """A supervisor restarted ``old`` as ``new``."""
        self.on_stop(old)
        self.on_start(new)

    def stop(self) -> None:
        """Stop every server, last started first; safe to call twice."""
        for proc in reversed(list(self.procs.values())):
            proc.stop()
            self.on_stop(proc)


def start_stack(directory: Path | str, ports: Mapping[str, int], *, host: str = HOST,
                scrape_interval: str = "15s", evaluation_interval: str | None = None,
                history_days: float = DEFAULT_DAYS, loki: bool = False,
                on_start: Callable[[services.Proc], None] = lambda proc: None,
                on_stop: Callable[[services.Proc], None] = lambda proc: None,
                say: Callable[[str], None] = print) -> Stack:
    """Start every server of the demo stack under ``directory``; on failure, stop them again."""
    stack = Stack(Path(directory).resolve(), host, dict(ports), on_start=on_start,
                  on_stop=on_stop)
    try:
        start_servers(stack, loki)
        stack.history = write_history(stack, history_days, say)
        if not loki:
            say("starting the demo log store (Loki's API; a week of logs written once)…")
            stack.log_store = True
            stack.start("loki", lambda: start_log_store(stack))
        say("starting Prometheus…")
        stack.start("prometheus",
                    lambda: start_prometheus(stack, scrape_interval, evaluation_interval))
    except BaseException:
        stack.stop()
        raise
    return stack


def start_servers(stack: Stack, loki: bool) -> None:
    """Everything but Prometheus, which must wait for the history."""
    d, host, ports = stack.dir, stack.host, stack.ports
    stack.start("redis", lambda: services.start_redis(d / "redis", ports["redis"], host=host))
    stack.start("node_exporter", lambda: services.start_node_exporter(
        d / "node_exporter", ports["node_exporter"], host=host))
    redis = f"{host}:{ports['redis']}"
    stack.start("api", lambda: start_api(d / "api", ports["api"], host=host, redis=redis,
                                         log_file=d / "logs" / "api.log",
                                         traffic_url=stack.url("nginx")))
    stack.start("nginx", lambda: services.start_nginx(d / "nginx", ports["nginx"],
                                                      upstream_url=stack.url("api"), host=host))
    stack.start("alertmanager", lambda: services.start_alertmanager(
        d / "alertmanager", ports["alertmanager"], host=host,
        config_yaml=(CONFIG_DIR / "alertmanager.yml").read_text()))
    if loki:
        stack.start("loki", lambda: start_loki(stack))
        stack.start("promtail", lambda: start_promtail(stack))


def start_api(directory: Path, port: int, *, host: str, redis: str, log_file: Path,
              traffic_url: str) -> services.Proc:
    """Start ``stack.demo_api`` on ``port``, its JSON log in ``log_file``; ready on /health."""
    # As a module from the repo (it imports stack.native_histogram), like the log store:
    # stack/ itself stays off sys.path, where history.py or run.py could shadow a module.
    args = [sys.executable, "-m", "stack.demo_api", "--host", host,
            "--port", str(port), "--redis", redis, "--log-file", str(log_file),
            "--traffic-url", traffic_url]
    return services.start_server("demo_api", args, directory, cwd=REPO, port=port, host=host,
                                 url=f"http://{host}:{port}", ready=services.http_ready("/health"))


def start_log_store(stack: Stack, timeout: float = 180) -> services.Proc:
    """Start ``stack.log_store`` on Loki's port, tailing the demo's logs; ready on /ready."""
    history = stack.dir / "prometheus" / "data" / HISTORY_MARKER
    args = [sys.executable, "-m", "stack.log_store", "--host", stack.host,
            "--port", str(stack.ports["loki"]), "--dir", str(stack.dir / "logstore"),
            "--api-log", str(stack.dir / "logs" / "api.log"),
            "--nginx-log", str(stack.dir / "nginx" / "access.log"),
            "--api-address", f"{stack.host}:{stack.ports['api']}", "--history", str(history)]
    # The first start writes a week of logs (seconds); later ones only load them.
    return services.start_server("log_store", args, stack.dir / "logstore", cwd=REPO,
                                 port=stack.ports["loki"], url=stack.url("loki"), host=stack.host,
                                 ready=services.http_ready("/ready"), timeout=timeout)


def start_loki(stack: Stack) -> services.Proc:
    """Start Loki from stack/config/loki.yml; ready once it accepts connections."""
    d = stack.dir / "loki"
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "loki.yml"
    conf.write_text(loki_yaml(stack, services.free_port(stack.host)))
    # Loki's /ready says 503 for its first 15 s; the Status tab shows when it turns ready.
    return services.start_server("loki", [shutil.which("loki") or "loki", f"-config.file={conf}"],
                                 d, port=stack.ports["loki"], url=stack.url("loki"),
                                 host=stack.host, ready=services.tcp_ready(), timeout=60)


def start_promtail(stack: Stack) -> services.Proc:
    """Start Promtail shipping the demo API's and NGINX's logs to Loki."""
    d = stack.dir / "promtail"
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "promtail.yml"
    conf.write_text(promtail_yaml(stack))
    return services.start_server("promtail", [shutil.which("promtail") or "promtail",
                                              f"-config.file={conf}"], d,
                                 port=stack.ports["promtail"], url=stack.url("promtail"),
                                 host=stack.host, ready=services.tcp_ready(), timeout=60)


def loki_yaml(stack: Stack, grpc_port: int) -> str:
    """stack/config/loki.yml filled in: this stack's host, ports and directory."""
    return Template((CONFIG_DIR / "loki.yml").read_text()).substitute(
        host=stack.host, port=stack.ports["loki"], grpc_port=grpc_port, dir=stack.dir / "loki")


def promtail_yaml(stack: Stack) -> str:
    """stack/config/promtail.yml filled in: ship <dir>/logs/*.log and NGINX's access log."""
    return Template((CONFIG_DIR / "promtail.yml").read_text()).substitute(
        host=stack.host, port=stack.ports["promtail"], dir=stack.dir / "promtail",
        loki_url=stack.url("loki"), logs=stack.dir / "logs",
        nginx_log=stack.dir / "nginx" / "access.log")


def write_history(stack: Stack, days: float, say: Callable[[str], None]) -> History:
    """The week of history in Prometheus' data dir: reused if there, else written now."""
    node = stack.procs["node_exporter"]
    targets = Targets(api=f"{stack.host}:{stack.ports['api']}", node=f"{node.host}:{node.port}")
    made = ensure_history(stack.dir / "prometheus" / "data", targets,
                          lambda: fetch_text(node.url + "/metrics"), days=days, say=say)
    if made.targets != asdict(targets):
        say(f"note: the history was written for other ports ({made.targets['api']}, "
            f"{made.targets['node']}), so live series will not continue it; --reset-history "
            "writes one for these")
    return made


def fetch_text(url: str) -> str:
    """The body of a GET, as text."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def prometheus_yaml(stack: Stack, scrape_interval: str, evaluation_interval: str | None) -> str:
    """Scrape everything that exposes metrics; rules from stack/config/rules.yml."""
    jobs = {"prometheus": [services.SELF_ADDRESS]}
    for job, key in (("node", "node_exporter"), ("api", "api"), ("alertmanager", "alertmanager"),
                     ("loki", "loki"), ("promtail", "promtail")):
        if key in stack.procs and not (key == "loki" and stack.log_store):  # no /metrics
            jobs[job] = [f"{stack.host}:{stack.ports[key]}"]
    if "dashboard" in stack.ports:  # the dashboard's own /metrics (open: no metrics_token)
        jobs["stackscope"] = [f"{stack.host}:{stack.ports[k]}" for k in
                              replicas.replica_keys(stack.ports) or ["dashboard"]]
    if "api" in jobs:  # the API's latency as a native histogram (protobuf, its own path)
        jobs["api-native"] = jobs["api"]
    return services.scrape_config(jobs, interval=scrape_interval, rule_files=["rules.yml"],
                                  evaluation_interval=evaluation_interval,
                                  alertmanagers=[f"{stack.host}:{stack.ports['alertmanager']}"],
                                  paths={"api-native": NATIVE_PATH})


def start_prometheus(stack: Stack, scrape_interval: str,
                     evaluation_interval: str | None) -> services.Proc:
    """Start Prometheus on the history, scraping the stack and sending alerts on."""
    d = stack.dir / "prometheus"
    return services.start_prometheus(
        d, stack.ports["prometheus"], host=stack.host, data_dir=d / "data",
        # Alerts evaluated before Alertmanager is discovered (~5 s) are otherwise resent only
        # after the default 1 m: a firing alert would take a minute to show there.
        extra_args=["--rules.alert.resend-delay=5s", services.HISTOGRAM_FEATURES],
        config_yaml=prometheus_yaml(stack, scrape_interval, evaluation_interval),
        rule_files={"rules.yml": (CONFIG_DIR / "rules.yml").read_text()})


# ---------------------------------------------------------------- the dashboard


#: what the demo action engine may restart: the card's name or the server's key -> its key
RESTARTABLE = {"Backend API": "api", "api": "api", "NGINX": "nginx", "nginx": "nginx",
               "Redis": "redis", "redis": "redis"}


def start_action_engine(stack: Stack, supervisor: Supervisor, token: str,
                        say: Callable[[str], None] = print) -> action_engine.Engine:
    """The demo action engine (``stack.action_engine``) on its port, restarting through
    ``supervisor``; its ``shutdown()`` stops it."""
    return action_engine.start(stack.host, stack.ports["actions"], supervisor.restart,
                               RESTARTABLE, token=token, say=say)


def actions_toml(stack: Stack, token: str) -> list[str]:
    """The demo's ``[[actions]]``: Restart on the servers the action engine can restart."""
    def q(value) -> str:
        return json.dumps(str(value), ensure_ascii=False)

    body = '{"service": "{service}", "requested_by": "{user}"}'
    return ["[[actions]]", 'name = "Restart"',
            f"services = [{', '.join(q(n) for n in RESTARTABLE if n[0].isupper())}]",
            f"url = {q(stack.url('actions') + '/restart')}", f"body = {q(body)}",
            f"headers = {{ Authorization = {q('Bearer ' + token)} }}",
            'confirm = "Restart it? Requests in flight fail; it is back within seconds."',
            "timeout = 30", ""]


def dashboard_toml(stack: Stack, dashboard_port: int, actions_token: str | None = None) -> str:
    """The dashboard's configuration for this stack (services it does not run show Offline)."""
    def q(value) -> str:
        # JSON's string escapes are all TOML basic-string escapes (and cover newlines too).
        return json.dumps(str(value), ensure_ascii=False)

    host, ports = stack.host, stack.ports
    lines = ["# Written by `make run` (stack/run.py) on every start: edits are overwritten.",
             "[server]", f"host = {q(host)}", f"port = {dashboard_port}", "",
             "[cache]", f"dir = {q(stack.dir / 'cache')}", "",
             "[prometheus]", f"url = {q(stack.url('prometheus'))}", "",
             "[alertmanager]", f"url = {q(stack.url('alertmanager'))}", "",
             "[loki]", f"url = {q(stack.url('loki'))}", "",
             "[metrics]", "scrape_interval = 15", ""]
    services_ = [("Redis", "tcp", ports["redis"], "", "data"),
                 ("NGINX", "http", ports["nginx"], "/", "edge"),
                 ("Backend API", "http", ports["api"], "/health", "app"),
                 ("Frontend", "http", 3000, "/", "app"),  # the demo stack has none
                 ("Prometheus", "http", ports["prometheus"], "/-/ready", "monitoring"),
                 ("Alertmanager", "http", ports["alertmanager"], "/-/ready", "monitoring"),
                 ("node_exporter", "http", ports["node_exporter"], "/metrics", "monitoring"),
                 ("Loki", "http", ports["loki"], "/ready", "monitoring"),
                 ("Promtail", "http", ports["promtail"], "/ready", "monitoring")]
    if stack.log_store:  # it tails the files itself: there is no Promtail to show
        services_[-2:] = [("Loki API (demo log store)", "http", ports["loki"], "/ready",
                           "monitoring")]
    for name, kind, port, path, group in services_:
        lines += ["[[services]]", f"name = {q(name)}", f"kind = {q(kind)}", f"host = {q(host)}",
                  f"port = {port}", *([f"path = {q(path)}"] if path else []),
                  f"group = {q(group)}", ""]
    if actions_token is not None:  # the action engine runs (stack.run's, not the tests')
        lines += actions_toml(stack, actions_token)
    return "\n".join(lines)


def start_dashboard(stack: Stack, config_path: Path, port: int,
                    timeout: float = 90) -> services.Proc:
    """Serve ``app.py --config`` on ``port``; ready once its /health answers."""
    url = f"http://{stack.host}:{port}"
    args = [sys.executable, str(REPO / "app.py"), "--config", str(config_path),
            "--host", stack.host, "--port", str(port)]
    return services.start_server("dashboard", args, stack.dir / "dashboard", port=port, url=url,
                                 host=stack.host, ready=services.http_ready("/health"),
                                 timeout=timeout)


# ---------------------------------------------------------------- the watchdog


class Reaper:
    """A watchdog process that ends the stack's process groups if this process dies."""

    def __init__(self, popen: subprocess.Popen, pipe):
        self.popen, self.pipe = popen, pipe

    @classmethod
    def start(cls) -> Reaper:
        """Start the watchdog in a session of its own (Ctrl-C must not end it first)."""
        read, write = os.pipe()
        popen = subprocess.Popen([sys.executable, "-m", "stack.run", "--reap-fd", str(read)],
                                 cwd=REPO, pass_fds=(read,), stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        os.close(read)
        return cls(popen, os.fdopen(write, "w", buffering=1))

    def watch(self, proc: services.Proc) -> None:
        """End ``proc``'s group if this process dies."""
        self.pipe.write(f"+{proc.popen.pid}\n")

    def forget(self, proc: services.Proc) -> None:
        """``proc`` was stopped: its group id may be reused, leave it alone."""
        self.pipe.write(f"-{proc.popen.pid}\n")

    def close(self) -> None:
        """Let the watchdog end (it ends any group still registered) and wait for it."""
        self.pipe.close()
        self.popen.wait(timeout=15)


def reap(fd: int, grace: float = 5.0) -> None:
    """The watchdog: track group ids from ``fd`` until EOF, then end the groups still there."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    with os.fdopen(fd) as pipe:
        for line in pipe:
            (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
    services.stop_groups(groups, grace)


# ---------------------------------------------------------------- the command


def parse_args(argv=None) -> argparse.Namespace:
    """The command line of ``python -m stack.run``."""
    parser = argparse.ArgumentParser(prog="python -m stack.run",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=os.environ.get("STACKSCOPE_STACK_DIR",
                                                        str(REPO / ".stack")),
                        help="where all state goes (default .stack; $STACKSCOPE_STACK_DIR)")
    for p in PORTS:
        parser.add_argument(p.flag, type=int, dest=p.key, metavar="N",
                            help=f"port of {p.label} (default {p.default}; ${p.env})")
    parser.add_argument("--free-ports", action="store_true",
                        help="free ports instead of the defaults (a second stack beside one)")
    parser.add_argument("--history-days", type=float, default=DEFAULT_DAYS, metavar="DAYS",
                        help="days of history written on the first run (default: a week and "
                             "an hour)")
    parser.add_argument("--reset-history", action="store_true",
                        help="delete Prometheus' data and the demo log store's, and write a "
                             "fresh history")
    parser.add_argument("--no-dashboard", action="store_true", help="start only the stack")
    parser.add_argument("--restart-delay", type=float, default=1.0, metavar="S",
                        help="a server that exits is restarted after S seconds, then 2S, 4S … "
                             "(at most 30 s; default 1)")
    parser.add_argument("--replicas", type=int, default=1, metavar="N",
                        help="N dashboards sharing Redis, a Celery worker for exports, NGINX "
                             "in front of them on the dashboard's port (default 1: one "
                             "dashboard, no worker)")
    parser.add_argument("--reap-fd", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Start the stack and the dashboard, wait for Ctrl-C; the exit code."""
    args = parse_args(argv)
    if args.reap_fd is not None:
        reap(args.reap_fd)
        return 0
    try:
        ports, loki = prepare(args)
    except StackError as exc:
        print(f"stack.run: {exc}", file=sys.stderr)
        return 1
    return run(args, ports, loki)


def prepare(args) -> tuple[dict[str, int], bool]:
    """Ports resolved and free, packages installed; StackError says what is wrong."""
    ports = resolve_ports(vars(args), os.environ, free=args.free_ports)
    loki = want_loki()
    keys = [p.key for p in PORTS if (loki or p.key != "promtail")
            and not (args.no_dashboard and p.key == "dashboard")]
    problems = port_problems(ports, keys)
    if args.replicas < 1:
        raise StackError(f"--replicas {args.replicas}: must be 1 or more")
    if args.replicas > 1 and not args.no_dashboard:
        ports.update(replicas.replica_ports(ports["dashboard"], args.replicas,
                                            free=args.free_ports))
        problems += replicas.port_problems(ports, port_is_free, HOST)
    if problems:
        raise StackError("\n  ".join(["cannot start the stack:", *problems]))
    missing = missing_packages()
    if missing:
        install_packages(missing, is_root=os.geteuid() == 0,
                         script=REPO / "scripts" / "ensure_packages.sh")
    return ports, loki


def _shutdown(signum, frame):
    raise Shutdown(signal.Signals(signum).name)


def run(args, ports: dict[str, int], loki: bool) -> int:
    """Start everything, print where it is, watch it; stop it all on the way out."""
    # A shell starts background jobs with SIGINT ignored; Ctrl-C must still stop the stack.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _shutdown)
    directory = Path(args.dir).resolve()
    if args.reset_history:  # the logs tell the metrics' week: both start afresh
        shutil.rmtree(directory / "prometheus" / "data", ignore_errors=True)
        shutil.rmtree(directory / "logstore", ignore_errors=True)
    reaper = Reaper.start()
    stack = engine = None
    try:
        print(f"starting the demo stack in {directory} …", flush=True)
        stack = start_stack(directory, ports, history_days=args.history_days, loki=loki,
                            on_start=reaper.watch, on_stop=reaper.forget,
                            say=say_now)
        supervisor = Supervisor(stack.procs, stack.starters, say=say_now,
                                on_restart=stack.replaced, first_delay=args.restart_delay)
        token = secrets.token_urlsafe(24)
        engine = start_action_engine(stack, supervisor, token, say_now)
        if replicas.replica_keys(ports):
            replicas.start(stack, lambda port: dashboard_toml(stack, port, actions_token=token),
                           say=say_now)
        elif not args.no_dashboard:
            config = directory / "stackscope.toml"
            config.write_text(dashboard_toml(stack, ports["dashboard"], actions_token=token))
            print("starting the dashboard…", flush=True)
            stack.start("dashboard", lambda: start_dashboard(stack, config, ports["dashboard"]))
        print(summary(stack, loki), flush=True)
        supervisor.run()
        return 0
    except (KeyboardInterrupt, Shutdown):
        print("\nstopping the demo stack…", flush=True)
        return 0
    except services.ServiceError as exc:
        print(f"stack.run: {exc}", file=sys.stderr)
        return 1
    finally:
        if engine is not None:
            engine.shutdown()
        if stack is not None:
            stack.stop()
        reaper.close()


def say_now(line: str) -> None:
    """Print ``line`` at once (the stack's output is often piped)."""
    print(line, flush=True)


def summary(stack: Stack, loki: bool, now: Callable[[], float] = time.time) -> str:
    """The readiness lines: what runs where."""
    h, p = stack.host, stack.ports
    rows = []
    if "front" in stack.procs:
        rows += replicas.summary_rows(stack)
    elif "dashboard" in stack.procs:
        rows.append(("Dashboard", stack.url("dashboard"), "← open this"))
    rows += [("Prometheus", stack.url("prometheus"), history_note(stack.history, now())),
             ("Alertmanager", stack.url("alertmanager"), "alert rules: stack/config/rules.yml"),
             ("node_exporter", stack.url("node_exporter") + "/metrics", ""),
             ("Redis", f"{h}:{p['redis']}", ""),
             ("NGINX", stack.url("nginx"), "proxies /api/, /metrics, /health to the demo API"),
             ("Demo API", stack.url("api"), f"JSON logs in {stack.dir / 'logs' / 'api.log'}"),
             ("Action engine", stack.url("actions") + "/restart",
              "restarts the demo API, NGINX or Redis (the cards' Restart button)")]
    if loki:
        rows += [("Loki", stack.url("loki"), ""), ("Promtail", stack.url("promtail"), "")]
    elif stack.log_store:
        rows.append(("Loki API", stack.url("loki"), "the demo log store (stack/log_store.py): "
                     "the API's and NGINX's logs, a week back"))
    width = max(len(name) for name, _, _ in rows)
    lines = [f"  {name.ljust(width)}  {where}  {note}".rstrip() for name, where, note in rows]
    return "\n".join(["", "stackscope demo stack is up (server logs: "
                      f"{stack.dir}/<server>/<server>.log):", *lines, "Ctrl-C stops everything."])


def history_note(history: History | None, now: float) -> str:
    """How much history Prometheus has, and whether there is a gap since it was written."""
    if history is None:
        return ""
    note = history.describe() + (" (written now)" if history.generated else " (reused)")
    if now - history.end > 3600:
        note += "; no data for the time the stack was stopped (--reset-history: a fresh week)"
    return note


if __name__ == "__main__":
    sys.exit(main())
