"""How long a probe round takes: 50 services (20 up, 20 refused, 10 black-holed HTTP at 1 s).

Baseline, measured in the same run: the same round probed one service after another.
Also times `python app.py check` with the 50 services against the same with one service.

    python bench/probe_round.py
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from config import Service  # noqa: E402
from datasources.probes import probe, probe_all  # noqa: E402
from stack.services import free_port, start_nginx, start_redis  # noqa: E402


def black_holes(n: int) -> list[socket.socket]:
    """Listening sockets that are never accepted: connects succeed, nothing answers."""
    holes = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        holes.append(s)
    return holes


def services(nginx_port: int, redis_port: int, holes) -> list[Service]:
    up = [Service(f"web{i}", "http", nginx_port, timeout=1.0) for i in range(10)]
    up += [Service(f"redis{i}", "tcp", redis_port, timeout=1.0) for i in range(10)]
    refused = [Service(f"gone{i}", "tcp" if i % 2 else "http", free_port(), timeout=1.0)
               for i in range(20)]
    hung = [Service(f"hole{i}", "http", h.getsockname()[1], timeout=1.0)
            for i, h in enumerate(holes)]
    return up + refused + hung


def toml(svcs) -> str:
    return "".join(f'[[services]]\nname = "{s.name}"\nkind = "{s.kind}"\nport = {s.port}\n'
                   f"timeout = {s.timeout}\n" for s in svcs)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_check(path: Path, cache: Path) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "app.py", "check", "--config", str(path)], cwd=REPO,
                          capture_output=True, env={"STACKSCOPE_CACHE_DIR": str(cache),
                                                    "PATH": "/usr/bin:/bin"})
    return time.perf_counter() - started, proc.returncode


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with start_nginx(tmp / "nginx") as nginx, start_redis(tmp / "redis") as redis:
            holes = black_holes(10)
            svcs = services(nginx.port, redis.port, holes)
            concurrent = min(timed(lambda: probe_all(svcs)) for _ in range(3))
            serial = timed(lambda: [probe(s) for s in svcs])
            results = probe_all(svcs)
            (tmp / "50.toml").write_text(toml(svcs))
            (tmp / "1.toml").write_text(toml(svcs[:1]))
            one, rc1 = run_check(tmp / "1.toml", tmp / "cache")
            fifty, rc50 = run_check(tmp / "50.toml", tmp / "cache")
            for h in holes:
                h.close()
    up = sum(r.up for r in results)
    print(f"services: 50 ({up} up, {50 - up} down: 20 refused, 10 black-holed at 1 s)")
    print(f"probe_all round:        {concurrent:6.2f} s (best of 3)")
    print(f"baseline, one by one:   {serial:6.2f} s")
    print(f"ratio baseline/round:   {serial / concurrent:6.1f}x")
    print(f"app.py check, 1 service:  {one:5.2f} s (exit {rc1})")
    print(f"app.py check, 50 services: {fifty:5.2f} s (exit {rc50}); "
          f"difference {fifty - one:+.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
