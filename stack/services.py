"""Start real servers (Redis, nginx, Prometheus, node exporter, Alertmanager, VictoriaMetrics).

Used by the test fixtures (``tests/servers.py``), the benches and ``make run``. Every server
binds 127.0.0.1 only, keeps all its state and its log (``<dir>/<name>.log``) inside the
``dir`` it is given, and runs in its own process group so ``Proc.stop`` takes its children down
too. ``start_server`` is the one way to start any of them (the dashboard and the demo API
included): spawn, wait until a ``Ready`` check passes, or stop it and quote its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from stack.poll import until

LOCALHOST = "127.0.0.1"
START_TIMEOUT = 30.0

#: In a Prometheus ``config_yaml``, replaced by the server's own "host:port" (known only at start).
SELF_ADDRESS = "__SELF_ADDRESS__"

PACKAGES_FILE = Path(__file__).with_name("packages.txt")


@dataclass(frozen=True)
class Package:
    """A Debian package of ``stack/packages.txt``: the sets it is in, its commands' paths."""

    name: str
    sets: frozenset[str]
    commands: dict[str, str]


def read_packages(path: Path = PACKAGES_FILE) -> list[Package]:
    """The packages listed in ``path`` (``package sets command=path ...`` per line)."""
    packages = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sets, *commands = line.split()
            packages.append(Package(name, frozenset(sets.split(",")),
                                    dict(c.split("=", 1) for c in commands)))
    return packages


PACKAGES = read_packages()
#: command -> (Debian fallback path, Debian package that ships it)
BINARIES = {command: (where, p.name) for p in PACKAGES for command, where in p.commands.items()}

NULL_ALERTMANAGER_CONFIG = json.dumps(
    {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
)


class ServiceError(RuntimeError):
    """A server could not be started, or died while we waited for it."""


class MissingBinaryError(ServiceError):
    """A server's executable is not installed."""


class PortInUseError(ServiceError):
    """The server lost the race for its port to another process."""


# ---------------------------------------------------------------- binaries, ports, logs


def find_binary(command: str, *, path: str | None = None, fallback: str | None = None) -> str:
    """Absolute path of ``command``: PATH first, then its Debian location, else a clear error."""
    default_fallback, package = BINARIES.get(command, (None, command))
    found = shutil.which(command, path=path)
    if found:
        return found
    fallback = default_fallback if fallback is None else fallback
    if fallback and os.access(fallback, os.X_OK):
        return fallback
    raise MissingBinaryError(
        f"{command!r} not found on PATH or at {fallback or '(no fallback)'}; install the Debian "
        f"package {package!r}: bash scripts/ensure_packages.sh {package} "
        f"(or: sudo apt-get install {package})"
    )


def _binary(command: str, override: str | None) -> str:
    if override is None:
        return find_binary(command)
    if not os.access(override, os.X_OK):
        package = BINARIES.get(command, (None, command))[1]
        raise MissingBinaryError(
            f"{command!r} not executable at {override}; install the Debian package {package!r}"
        )
    return override


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now (another process may take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def log_tail(log_path: Path | str, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that there is none."""
    try:
        text = Path(log_path).read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {log_path})"
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------- readiness checks


@dataclass(frozen=True)
class Ready:
    """How to tell that a started server is ready: ``check(proc)``, and what it waits for."""

    what: str
    check: Callable[[Proc], bool]


def http_ready(path: str = "/", *, timeout: float = 2.0) -> Ready:
    """Ready once ``GET <url><path>`` answers 200 and the server itself holds its port."""
    return Ready(f"GET {path} answering 200",
                 lambda proc: _http_ok(f"{proc.url}{path}", timeout) and _owns_port(proc))


def tcp_ready() -> Ready:
    """Ready once its port accepts TCP connections and the server itself holds it."""
    return Ready("accepting TCP connections",
                 lambda proc: _tcp_open(proc.host, proc.port) and _owns_port(proc))


def log_ready(text: str) -> Ready:
    """Ready once its log holds ``text`` (a server that says when it is up)."""
    return Ready(f"{text!r} in its log",
                 lambda proc: text in proc.log_path.read_text(errors="replace"))


def file_ready(path: Path | str) -> Ready:
    """Ready once ``path`` exists (a server that writes a file when it is up)."""
    return Ready(f"{path} written", lambda proc: Path(path).exists())


def _http_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()  # closing mid-body makes exporters log "broken pipe" errors
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(cols[9])
    return inodes


def _owns_port(proc: Proc) -> bool:
    """Whether ``proc`` itself listens on its port, not whoever won a race for it."""
    if not Path("/proc/net/tcp").exists():
        return True
    try:
        fds = os.listdir(f"/proc/{proc.popen.pid}/fd")
    except OSError:
        return False
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(proc.port)}
    for fd in fds:
        try:
            if os.readlink(f"/proc/{proc.popen.pid}/fd/{fd}") in wanted:
                return True
        except OSError:
            continue
    return False


# ---------------------------------------------------------------- the process handle


@dataclass
class Proc:
    """A started server; ``stop()`` ends its whole process group."""

    name: str
    host: str
    port: int
    url: str | None
    dir: Path
    popen: subprocess.Popen
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    def alive(self) -> bool:
        """Whether the server's main process is still running."""
        return self.popen.poll() is None

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout``; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        # start_new_session made the server the leader of a group with its own pid.
        stop_groups([self.popen.pid], timeout, children=[self.popen])
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def stop_groups(pgids: Iterable[int], timeout: float = 5.0, *,
                children: Sequence[subprocess.Popen] = ()) -> set[int]:
    """SIGTERM each process group, SIGKILL those still running after ``timeout``; what is left.

    ``children`` (processes this one started) are reaped as they exit. A zombie holds no
    port, file or memory, so a group of zombies counts as gone.
    """
    left = set(pgids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        left = _wait_groups_gone(left, timeout, children)
        if not left:
            break
    return left


def _wait_groups_gone(pgids: set[int], timeout: float,
                      children: Sequence[subprocess.Popen]) -> set[int]:
    def gone() -> bool:
        for child in children:
            child.poll()
        return not any(group_running(pgid) for pgid in pgids)

    try:
        until(gone, timeout, every=0.02)
    except TimeoutError:
        return {pgid for pgid in pgids if group_running(pgid)}
    return set()


def group_running(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies do not count)."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    # Orphans are reaped by PID 1, which in containers may take seconds; zombies hold nothing.
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state ppid pgrp ...
                return True
    return False


# ---------------------------------------------------------------- starting a server


def start_server(name: str, args: Sequence[str], dir: Path | str, *, ready: Ready,
                 port: int = 0, url: str | None = None, host: str = LOCALHOST,
                 timeout: float = START_TIMEOUT, cwd: Path | str | None = None,
                 env: Mapping[str, str] | None = None) -> Proc:
    """Run ``args`` in a process group of its own, output to ``dir/<name>.log``, until ready.

    If the server exits or is not ``ready`` within ``timeout`` seconds, it is stopped and a
    ServiceError (PortInUseError when it lost its port) quotes the last lines of its log.
    """
    dir = _state_dir(dir)
    log_path = dir / f"{name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            list(args), cwd=cwd or dir, env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc(name=name, host=host, port=port, url=url, dir=dir, popen=popen,
                log_path=log_path)
    try:
        wait_ready(proc, ready, timeout)
    except BaseException:
        proc.stop()
        raise
    return proc


def wait_ready(proc: Proc, ready: Ready, timeout: float = START_TIMEOUT) -> None:
    """Wait until ``ready.check(proc)``; raise early, with the log's tail, if ``proc`` exits."""
    def check() -> bool:
        _raise_if_dead(proc)
        return ready.check(proc)

    def timed_out(text: str) -> ServiceError:
        return ServiceError(f"{text}; last lines of {proc.log_path}:\n{log_tail(proc.log_path)}")

    until(check, timeout, every=0.05, message=f"{proc.name}: {ready.what}", error=timed_out)


def _raise_if_dead(proc: Proc) -> None:
    if proc.alive():
        return
    tail = log_tail(proc.log_path)
    kind = PortInUseError if "address already in use" in tail.lower() else ServiceError
    raise kind(
        f"{proc.name} exited with code {proc.popen.returncode} before it was ready; "
        f"last lines of {proc.log_path}:\n{tail}"
    )


def start_with_port_retry(launch: Callable[[int], Proc], port: int | None, host: str = LOCALHOST,
                          *, pick_port: Callable[[str], int] = free_port) -> Proc:
    """Run ``launch(port)``; with no fixed port, pick one, and retry once if it was taken."""
    if port is not None:
        return launch(port)
    try:
        return launch(pick_port(host))
    except PortInUseError:
        return launch(free_port(host))


def _state_dir(dir: Path | str) -> Path:
    path = Path(dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path

# ---------------------------------------------------------------- Redis


def redis_conf(dir: Path, host: str, port: int) -> str:
    """A redis.conf for a throwaway, foreground, non-persistent server."""
    return "\n".join([
        f"bind {host}", f"port {port}", f'dir "{dir}"', "daemonize no", "protected-mode no",
        'save ""', "appendonly no", 'logfile ""', "",
    ])


def start_redis(dir: Path | str, port: int | None = None, *, host: str = LOCALHOST,
                binary: str | None = None) -> Proc:
    """Start redis-server; ready once it accepts TCP. ``url`` is None (not HTTP)."""
    exe, dir = _binary("redis-server", binary), _state_dir(dir)

    def launch(port: int) -> Proc:
        conf = dir / "redis.conf"
        conf.write_text(redis_conf(dir, host, port))
        return start_server("redis", [exe, str(conf)], dir, port=port, host=host,
                            ready=tcp_ready())

    return start_with_port_retry(launch, port, host)


# ---------------------------------------------------------------- nginx

INDEX_HTML = """<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1><p>stackscope demo stack.</p></body></html>
"""


def _upstream_origin(upstream_url: str) -> str:
    parts = urlsplit(upstream_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        # With a path, nginx's proxy_pass would rewrite the URI; keep requests unchanged.
        raise ValueError(f"upstream_url must be scheme://host:port only, got {upstream_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


#: NGINX's access log as one JSON object per line, so LogQL's ``| json`` reads it like the
#: demo API's lines (``stack.log_store`` tails it; ``stack.log_backfill`` writes the same shape).
NGINX_LOG_FORMAT = (
    '{"time":"$time_iso8601","msec":"$msec","remote_addr":"$remote_addr",'
    '"message":"$request_method $request_uri $status","method":"$request_method",'
    '"uri":"$request_uri","status_code":$status,'
    '"body_bytes_sent":$body_bytes_sent,"request_time":"$request_time",'
    '"upstream_response_time":"$upstream_response_time",'
    '"request_id":"$upstream_http_x_request_id","user_agent":"$http_user_agent"}')


def nginx_conf(dir: Path, host: str, port: int, upstream_url: str | None = None,
               *, as_root: bool | None = None, tls: tuple[Path, Path] | None = None) -> str:
    """An nginx.conf that keeps pid, logs and temp files in ``dir`` and serves ``dir/html``
    (over TLS with ``tls`` = (certificate, key) PEM files)."""
    as_root = os.geteuid() == 0 if as_root is None else as_root
    temps = "".join(f"    {kind}_temp_path {dir}/tmp/{kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    proxies = ""
    if upstream_url:
        origin = _upstream_origin(upstream_url)
        proxies = "".join(f"        location {loc} {{ proxy_pass {origin}; }}\n"
                          for loc in ("/api/", "= /metrics", "= /health"))
    # Workers drop to "nobody" unless told otherwise, and nobody cannot read a root-owned tmp dir.
    user = "user root;\n" if as_root else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log stderr notice;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    log_format stackscope escape=json '{NGINX_LOG_FORMAT}';\n"
        f"    access_log {dir}/access.log stackscope;\n{temps}"
        "    default_type text/html;\n"
        "    server {\n"
        f"        listen {host}:{port}{' ssl' if tls else ''};\n"
        + (f"        ssl_certificate {tls[0]};\n        ssl_certificate_key {tls[1]};\n"
           if tls else "")
        + f"        root {dir}/html;\n"
        "        location / { index index.html; }\n"
        f"{proxies}"
        "    }\n"
        "}\n"
    )


def start_nginx(dir: Path | str, port: int | None = None, *, upstream_url: str | None = None,
                host: str = LOCALHOST, binary: str | None = None,
                tls: tuple[Path, Path] | None = None) -> Proc:
    """Start nginx serving a welcome page at ``/``, proxying /api/, /metrics, /health if asked;
    over https with ``tls`` = (certificate, key) PEM files (ready once it accepts TCP)."""
    exe, dir = _binary("nginx", binary), _state_dir(dir)
    (dir / "html").mkdir(exist_ok=True)
    (dir / "html" / "index.html").write_text(INDEX_HTML)
    (dir / "tmp").mkdir(exist_ok=True)

    def launch(port: int) -> Proc:
        conf = dir / "nginx.conf"
        conf.write_text(nginx_conf(dir, host, port, upstream_url, tls=tls))
        # -e: nginx opens its compiled-in error log (/var/log/nginx) before reading the config.
        args = [exe, "-p", f"{dir}/", "-c", str(conf), "-e", "stderr"]
        url = f"{'https' if tls else 'http'}://{host}:{port}"
        return start_server("nginx", args, dir, port=port, url=url, host=host,
                            ready=tcp_ready() if tls else http_ready("/"))

    return start_with_port_retry(launch, port, host)


# ---------------------------------------------------------------- Prometheus


def scrape_config(jobs: dict[str, Iterable[str]], *, interval: str = "1s",
                  rule_files: Iterable[str] = (), evaluation_interval: str | None = None,
                  alertmanagers: Iterable[str] = (), paths: dict[str, str] | None = None) -> str:
    """A prometheus.yml scraping ``{job: ["host:port", ...]}`` (JSON is valid YAML);
    ``paths`` gives a job a metrics path other than /metrics."""
    config: dict = {
        "global": {"scrape_interval": interval,
                   "evaluation_interval": evaluation_interval or interval},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}],
                            **({"metrics_path": paths[job]} if job in (paths or {}) else {})}
                           for job, targets in jobs.items()],
    }
    if rule_files:
        config["rule_files"] = list(rule_files)
    if alertmanagers:
        targets = [{"targets": list(alertmanagers)}]
        config["alerting"] = {"alertmanagers": [{"static_configs": targets}]}
    return json.dumps(config, indent=2) + "\n"


#: Prometheus 2.42 flags for exemplars (OpenMetrics scrapes) and native histograms (protobuf
#: scrapes: with this flag 2.42 asks targets for protobuf first)
HISTOGRAM_FEATURES = "--enable-feature=exemplar-storage,native-histograms"


def start_prometheus(dir: Path | str, port: int | None = None, *, config_yaml: str,
                     rule_files: dict[str, str] | None = None, extra_args: Sequence[str] = (),
                     data_dir: Path | str | None = None, retention: str = "30d",
                     history: Iterable[str] = (), max_block_duration: str | None = None,
                     host: str = LOCALHOST, binary: str | None = None) -> Proc:
    """Start Prometheus (lifecycle and admin APIs on); ready on /-/ready.

    ``SELF_ADDRESS`` in ``config_yaml`` becomes its own "host:port". Rule files are written
    next to prometheus.yml, so ``config_yaml`` names them by file name. ``history``:
    OpenMetrics texts (``stack.openmetrics``) backfilled into the data directory first, in
    blocks of up to ``max_block_duration``.
    """
    exe, dir = _binary("prometheus", binary), _state_dir(dir)
    data = Path(data_dir).resolve() if data_dir is not None else dir / "data"
    for text in history:
        backfill_openmetrics(text, data, workdir=dir / "backfill",
                             max_block_duration=max_block_duration)
    for name, text in (rule_files or {}).items():
        (dir / name).write_text(text)

    def launch(port: int) -> Proc:
        conf = dir / "prometheus.yml"
        conf.write_text(config_yaml.replace(SELF_ADDRESS, f"{host}:{port}"))
        args = [exe, f"--config.file={conf}", f"--web.listen-address={host}:{port}",
                f"--storage.tsdb.path={data}", f"--storage.tsdb.retention.time={retention}",
                "--web.enable-lifecycle", "--web.enable-admin-api", *extra_args]
        url = f"http://{host}:{port}"
        return start_server("prometheus", args, dir, port=port, url=url, host=host,
                            ready=http_ready("/-/ready"))

    return start_with_port_retry(launch, port, host)


def scraped_jobs(url: str) -> set[str]:
    """Jobs whose ``up`` is 1 right now on the Prometheus at ``url``."""
    query = urllib.parse.urlencode({"query": "up == 1"})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=2) as resp:
            body = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError):
        return set()
    return {sample["metric"].get("job", "") for sample in body["data"]["result"]}


def wait_scraped(url: str, jobs: Iterable[str], timeout: float = START_TIMEOUT) -> None:
    """Wait until every job in ``jobs`` has been scraped successfully at least once."""
    # Prometheus applies discovered targets at most every 5 s, so the first scrape of a fresh
    # server lands ~5 s after /-/ready however short the scrape interval.
    wanted = set(jobs)
    until(lambda: wanted <= scraped_jobs(url), timeout,
          message=f"{url}: every job of {sorted(wanted)} scraped", error=ServiceError)


def backfill_openmetrics(openmetrics_text: str, data_dir: Path | str, *, workdir: Path | str,
                         binary: str | None = None, max_block_duration: str | None = None) -> None:
    """Write TSDB blocks into ``data_dir`` from OpenMetrics text (timestamps in seconds)."""
    if openmetrics_text.rstrip().splitlines()[-1:] != ["# EOF"]:
        raise ValueError("OpenMetrics text must end with a '# EOF' line")
    exe = _binary("promtool", binary)
    source = _state_dir(workdir) / "backfill.om"
    source.write_text(openmetrics_text.rstrip() + "\n")
    data = _state_dir(data_dir)
    result = subprocess.run(
        [exe, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data),
         # Days of history in the default 2 h blocks take promtool ~1 s per simulated day.
         *([f"--max-block-duration={max_block_duration}"] if max_block_duration else [])],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"promtool backfill of {source} failed ({result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}")


# ---------------------------------------------------------------- node exporter

#: Debian enables the systemd collector, which fails every scrape without a systemd bus;
#: the textfile collector would read the host's /var/lib/prometheus/node-exporter.
NODE_EXPORTER_ARGS = ("--no-collector.systemd",)


def start_node_exporter(dir: Path | str, port: int | None = None, *, host: str = LOCALHOST,
                        extra_args: Sequence[str] = (), binary: str | None = None) -> Proc:
    """Start the node exporter; ready once /metrics answers."""
    exe, dir = _binary("prometheus-node-exporter", binary), _state_dir(dir)
    (dir / "textfile").mkdir(exist_ok=True)

    def launch(port: int) -> Proc:
        args = [exe, f"--web.listen-address={host}:{port}", *NODE_EXPORTER_ARGS,
                f"--collector.textfile.directory={dir / 'textfile'}", *extra_args]
        url = f"http://{host}:{port}"
        return start_server("node_exporter", args, dir, port=port, url=url, host=host,
                            ready=http_ready("/metrics"))

    return start_with_port_retry(launch, port, host)


# ---------------------------------------------------------------- Alertmanager


def start_alertmanager(dir: Path | str, port: int | None = None, *, config_yaml: str | None = None,
                       host: str = LOCALHOST, extra_args: Sequence[str] = (),
                       binary: str | None = None) -> Proc:
    """Start Alertmanager, clustering off, a null receiver unless configured; ready on /-/ready."""
    exe, dir = _binary("prometheus-alertmanager", binary), _state_dir(dir)
    conf = dir / "alertmanager.yml"
    conf.write_text(config_yaml if config_yaml is not None else NULL_ALERTMANAGER_CONFIG + "\n")

    def launch(port: int) -> Proc:
        # An empty --cluster.listen-address turns gossip off; the default binds 0.0.0.0:9094.
        args = [exe, f"--config.file={conf}", f"--storage.path={dir / 'data'}",
                f"--web.listen-address={host}:{port}", "--cluster.listen-address=", *extra_args]
        url = f"http://{host}:{port}"
        return start_server("alertmanager", args, dir, port=port, url=url, host=host,
                            ready=http_ready("/-/ready"))

    return start_with_port_retry(launch, port, host)


# ---------------------------------------------------------------- VictoriaMetrics


def start_victoria_metrics(dir: Path | str, port: int | None = None, *,
                           extra_args: Sequence[str] = (), host: str = LOCALHOST,
                           binary: str | None = None) -> Proc:
    """Start single-node VictoriaMetrics with its data in ``dir/data``; ready on /health."""
    exe, dir = _binary("victoria-metrics", binary), _state_dir(dir)

    def launch(port: int) -> Proc:
        args = [exe, f"-storageDataPath={dir / 'data'}", f"-httpListenAddr={host}:{port}",
                *extra_args]
        url = f"http://{host}:{port}"
        return start_server("victoria_metrics", args, dir, port=port, url=url, host=host,
                            ready=http_ready("/health"))

    return start_with_port_retry(launch, port, host)
