"""`python -m stack.run --replicas N`: N dashboards sharing Redis, a Celery worker, NGINX in front.

Each replica is ``app.py`` on a port of its own with its own ``cache.dir``, all of them with
``cache.url`` on the demo's Redis (database 1) and ``exports.broker`` there too (database 2),
and one ``exports.dir`` under the stack's directory. One ``celery -A app.celery_app worker``
runs the exports. A second NGINX (``<dir>/front``) listens on the dashboard's port and spreads
requests over the replicas; a replica that refuses, times out or answers 502/503 is skipped
for the next one (``proxy_next_upstream``), so killing one loses no page while the supervisor
starts it again. Every process is supervised like the rest of the stack.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from stack import services

REPO = Path(__file__).resolve().parents[1]
#: Redis databases of the demo's Redis: the shared cache, and Celery's broker and results
CACHE_DB, BROKER_DB = 1, 2
#: seconds a shared-cache operation may take: the default 0.5 s is for a production Redis; on
#: a busy laptop running the whole demo, replies can take longer, and past it every call
#: would go straight to Prometheus
CACHE_TIMEOUT = 2
#: pool processes of the worker: two exports at once is plenty for the demo on a small host
WORKER_CONCURRENCY = 2


def replica_key(i: int) -> str:
    """The stack's key (``Stack.procs``, ``Stack.ports``) of replica ``i`` (from 1)."""
    return f"dashboard-{i}"


def replica_ports(front: int, count: int, *, free: bool,
                  pick: Callable[[], int] = services.free_port) -> dict[str, int]:
    """Each replica's port: free ones with ``free``, else the ports after the front's."""
    return {replica_key(i): pick() if free else front + i for i in range(1, count + 1)}


def replica_keys(ports: Mapping[str, int]) -> list[str]:
    """The replicas' keys among the stack's ports, in order."""
    return sorted((k for k in ports if k.startswith("dashboard-")),
                  key=lambda k: int(k.rsplit("-", 1)[1]))


def port_problems(ports: Mapping[str, int], is_free: Callable[[str, int], bool],
                  host: str) -> list[str]:
    """One line per replica port that is taken or shared with another server of the stack."""
    problems = []
    others = {n: k for k, n in ports.items() if not k.startswith("dashboard-")}
    for key in replica_keys(ports):
        number = ports[key]
        if number in others:
            problems.append(f"replica {key} and {others[number]} both have port {number}; "
                            "pass --free-ports or --dashboard-port <port>")
        elif not is_free(host, number):
            problems.append(f"port {number} for replica {key} is taken; stop it, or pass "
                            "--free-ports or --dashboard-port <port> (replicas take the "
                            "ports after it)")
    return problems


# ---------------------------------------------------------------- configuration


def redis_url(host: str, port: int, db: int) -> str:
    return f"redis://{host}:{port}/{db}"


def shared_toml(stack, single_toml: str, cache_dir: Path, secret: str) -> str:
    """A replica's (or the worker's) config: the single dashboard's (``single_toml``) with its
    own cache directory, Redis for the cache (values signed with ``secret``) and the exports,
    one shared ``exports.dir``."""
    def q(value) -> str:
        return json.dumps(str(value), ensure_ascii=False)

    redis = (stack.host, stack.ports["redis"])
    text = single_toml.replace(f"dir = {q(stack.dir / 'cache')}\n",
                        f"dir = {q(cache_dir)}\nurl = {q(redis_url(*redis, CACHE_DB))}\n"
                        f"secret = {q(secret)}\ntimeout = {CACHE_TIMEOUT}\n", 1)
    return text + "\n".join(["", "[exports]", f"broker = {q(redis_url(*redis, BROKER_DB))}",
                             f"dir = {q(stack.dir / 'exports')}", ""])


def write_configs(stack, toml_for: Callable[[int], str]) -> tuple[dict[str, Path], Path]:
    """Each replica's config file by key, and the worker's: ``<dir>/stackscope-<key>.toml``.
    ``toml_for(port)``: the single dashboard's config serving on ``port``."""
    configs, secret = {}, secrets.token_urlsafe(24)
    for key in replica_keys(stack.ports):
        path = stack.dir / f"stackscope-{key}.toml"
        path.write_text(shared_toml(stack, toml_for(stack.ports[key]),
                                    stack.dir / f"cache-{key}", secret))
        configs[key] = path
    worker = stack.dir / "stackscope-worker.toml"
    worker.write_text(shared_toml(stack, toml_for(stack.ports["dashboard"]),
                                  stack.dir / "cache-worker", secret))
    return configs, worker


def front_conf(directory: Path, host: str, port: int, upstreams: list[str], *,
               as_root: bool | None = None) -> str:
    """NGINX in front of the replicas: the next one on an error, a timeout, a 502 or 503."""
    as_root = os.geteuid() == 0 if as_root is None else as_root
    temps = "".join(f"    {kind}_temp_path {directory}/tmp/{kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    servers = "".join(f"        server {u} max_fails=1 fail_timeout=2s;\n" for u in upstreams)
    return (
        ("user root;\n" if as_root else "")
        + f"daemon off;\nworker_processes 1;\npid {directory}/nginx.pid;\n"
        "error_log stderr notice;\nevents { worker_connections 1024; }\nhttp {\n"
        "    log_format front '$remote_addr [$time_local] \"$request\" $status "
        "upstream=$upstream_addr upstream_status=$upstream_status';\n"
        f"    access_log {directory}/access.log front;\n{temps}"
        f"    upstream replicas {{\n{servers}        keepalive 32;\n    }}\n"
        "    server {\n"
        f"        listen {host}:{port};\n"
        "        client_max_body_size 0;\n"  # the replicas own the request limit
        "        location / {\n"
        "            proxy_pass http://replicas;\n"
        "            proxy_http_version 1.1;\n"
        '            proxy_set_header Connection "";\n'
        "            proxy_set_header Host $http_host;\n"
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "            proxy_buffering off;\n"  # export downloads stream through
        "            proxy_connect_timeout 2s;\n"
        "            proxy_read_timeout 120s;\n"
        "            proxy_next_upstream error timeout http_502 http_503;\n"
        "            proxy_next_upstream_tries 0;\n"
        "        }\n"
        "    }\n"
        "}\n")


# ---------------------------------------------------------------- the processes


def start_replica(stack, key: str, config: Path, timeout: float = 90) -> services.Proc:
    """``app.py --config`` of one replica on its port; ready once its /health answers."""
    port = stack.ports[key]
    args = [sys.executable, str(REPO / "app.py"), "--config", str(config),
            "--host", stack.host, "--port", str(port)]
    return services.start_server(key, args, stack.dir / key, port=port, host=stack.host,
                                 url=f"http://{stack.host}:{port}",
                                 ready=services.http_ready("/health"), timeout=timeout)


def log_ready_after(text: str, log_path: Path) -> services.Ready:
    """Ready once ``text`` is in the part of the log written after now (logs are appended
    to on a restart, so an earlier start's line must not count)."""
    offset = log_path.stat().st_size if log_path.exists() else 0

    def check(proc: services.Proc) -> bool:
        with open(proc.log_path, "rb") as fh:
            fh.seek(offset)
            return text in fh.read().decode(errors="replace")

    return services.Ready(f"{text!r} in its log", check)


def start_worker(stack, config: Path, timeout: float = 90) -> services.Proc:
    """``celery -A app.celery_app worker`` on ``config`` (STACKSCOPE_CONFIG), from the repo."""
    directory = stack.dir / "celery"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSCOPE_")}
    env["STACKSCOPE_CONFIG"] = str(config)
    args = [str(Path(sys.executable).parent / "celery"), "-A", "app.celery_app", "worker",
            "--concurrency", str(WORKER_CONCURRENCY), "--loglevel", "INFO",
            "--without-gossip", "--without-mingle"]
    ready = log_ready_after(" ready.", directory / "celery.log")
    return services.start_server("celery", args, directory, cwd=REPO, env=env, ready=ready,
                                 timeout=timeout)


def start_front(stack, timeout: float = 30) -> services.Proc:
    """The front NGINX on the dashboard's port, in ``<dir>/front``."""
    directory = stack.dir / "front"
    (directory / "tmp").mkdir(parents=True, exist_ok=True)
    port = stack.ports["dashboard"]
    conf = directory / "nginx.conf"
    upstreams = [f"{stack.host}:{stack.ports[k]}" for k in replica_keys(stack.ports)]
    conf.write_text(front_conf(directory, stack.host, port, upstreams))
    args = [services.find_binary("nginx"), "-p", f"{directory}/", "-c", str(conf), "-e",
            "stderr"]
    return services.start_server("front", args, directory, port=port, host=stack.host,
                                 url=f"http://{stack.host}:{port}",
                                 ready=services.tcp_ready(), timeout=timeout)


def start(stack, toml_for: Callable[[int], str], say: Callable[[str], None] = print) -> None:
    """Start the replicas, the worker and the front NGINX, each supervised (``stack.start``)."""
    configs, worker = write_configs(stack, toml_for)
    for key, config in configs.items():
        say(f"starting the dashboard replica {key}…")
        stack.start(key, lambda key=key, config=config: start_replica(stack, key, config))
    say("starting the Celery worker (exports)…")
    stack.start("celery", lambda: start_worker(stack, worker))
    say("starting NGINX in front of the replicas…")
    stack.start("front", lambda: start_front(stack))


def summary_rows(stack) -> list[tuple[str, str, str]]:
    """The readiness lines of the replicas, the worker and the front."""
    redis = f"{stack.host}:{stack.ports['redis']}"
    rows = [("Dashboard", stack.url("dashboard"),
             f"← open this: NGINX in front of {len(replica_keys(stack.ports))} replicas "
             "(next replica on error, timeout, 502, 503)")]
    for key in replica_keys(stack.ports):
        rows.append((f"Replica {key.rsplit('-', 1)[1]}", stack.url(key),
                     f"cache.dir {stack.dir / ('cache-' + key)}, cache.url redis://{redis}/"
                     f"{CACHE_DB}"))
    rows.append(("Celery worker", f"redis://{redis}/{BROKER_DB}",
                 f"exports to {stack.dir / 'exports'}; log {stack.dir / 'celery' / 'celery.log'}"))
    return rows
