"""N viewers polling the Status and Metrics tabs of a served dashboard, as browsers do.

    .venv/bin/python -m bench.viewers [--viewers 50] [--seconds 60] [--server both]
                                      [--before] [--baseline-seconds 15] [--tabs split]

Starts the demo stack (``stack.run.start_stack``, a short history) on free loopback ports in a
temp dir, and a counting proxy (``stack/counting_proxy.py``) in front of Prometheus,
Alertmanager and every probed service; then, per server, serves the dashboard on it as its own
process (``python app.py``: waitress; ``gunicorn app:server``: gunicorn.conf.py's gthread
workers) and replays what a browser posts: each viewer loads ``/_dash-layout`` and
``/_dash-dependencies``, makes the page's initial callback calls, then on every tick of its
tab's ``dcc.Interval`` (every other viewer on Status, the others on Metrics; ``--tabs both``:
each on both) posts the callbacks that interval triggers (one request per Metrics panel),
bodies written as the renderer writes them (``bench/dash_page.py``), over at most 6
keep-alive connections (``bench/http_pool.py``).

Baseline, measured in the same run on the same server: one viewer polling both tabs (the
same mix of calls) for ``--baseline-seconds``.
Goals: 0 errors, p95 with N viewers at most 3x the one-viewer p95, server RSS (all its
processes) within 10% from start to end, and at most 1/40 upstream call per viewer call.
``--before`` first runs the server as it was before ``[server]`` existed: waitress with its
default limit of 100 connections and 16 threads. Exit code 1 when a server other than
``before`` misses the error, p95 or RSS goal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.dash_page import ENDPOINT, Page
from bench.http_pool import HttpError, Pool
from layouts import ids
from stack import services
from stack.counting_proxy import Route, read_counts, start_counting_proxy
from stack.run import resolve_ports, start_stack

REPO = Path(__file__).resolve().parents[1]
HOST = services.LOCALHOST
STATUS_TICK = (ids.STATUS_INTERVAL, "n_intervals")
METRICS_TICK = (ids.range_id("metrics", ids.RANGE_INTERVAL), "n_intervals")
#: the Metrics plot width the page's panelWidth measures in a 1400 px window (two columns)
PANEL_WIDTH = 590
#: what each server run changes in the dashboard's [server] table
SERVERS = {
    "before": ("waitress", "connection_limit = 100\nthreads = 16\nchannel_timeout = 120\n"),
    "waitress": ("waitress", ""),
    "gunicorn": ("gunicorn", ""),
}
#: the demo stack's probed services: (name, kind, stack port key, path)
PROBED = [("Redis", "tcp", "redis", ""), ("NGINX", "http", "nginx", "/"),
          ("Backend API", "http", "api", "/health"),
          ("Prometheus", "http", "prometheus", "/-/ready"),
          ("Alertmanager", "http", "alertmanager", "/-/ready"),
          ("node_exporter", "http", "node_exporter", "/metrics")]


# ---------------------------------------------------------------- one viewer


@dataclass
class Call:
    #: "page" (layout, dependencies), "status" (the cards: probes), "prom" (the Status tab's
    #: Prometheus section), "metrics" (one panel), "build" (the Metrics panels, once)
    kind: str
    started: float
    seconds: float
    error: str | None = None
    #: sent on an interval's tick (the steady state the percentiles are about)
    tick: bool = False


@dataclass
class Run:
    """What the viewers of one phase did, and until when they tick."""

    base: tuple[str, int]
    until: float
    timeout: float
    calls: list[Call] = field(default_factory=list)


def kind_of(cb: dict) -> str:
    """What a callback is, for the table: see ``Call.kind``."""
    output = cb["output"]
    if ids.STATUS_PROM_TARGETS in output:
        return "prom"
    if ids.STATUS_CARDS in output:
        return "status"
    if ids.METRICS_GRAPH in output:
        return "metrics"
    return "build" if ids.METRICS_PANELS in output else "other"


async def post(run: Run, pool: Pool, page: Page, cb: dict, body: dict, tick: bool) -> None:
    """One callback request; its answer taken into the page (but a chart's: never read)."""
    kind = kind_of(cb)
    data = json.dumps(body).encode()
    started = time.monotonic()
    error = None
    try:
        answer = await asyncio.wait_for(pool.request(
            "POST", ENDPOINT, data, {"Content-Type": "application/json"}), run.timeout)
        if answer.status not in (200, 204):
            error = f"HTTP {answer.status}"
        elif kind != "metrics" and answer.status == 200:
            page.apply(json.loads(decoded(answer)))
    except TimeoutError:
        error = f"no answer in {run.timeout:g} s"
    except HttpError as exc:
        error = str(exc)
    run.calls.append(Call(kind, started, time.monotonic() - started, error, tick))


def decoded(answer) -> bytes:
    if answer.headers.get("content-encoding") == "gzip":
        return zlib.decompress(answer.body, 16 + zlib.MAX_WBITS)
    return answer.body


async def get_json(run: Run, pool: Pool, path: str):
    started = time.monotonic()
    answer = await asyncio.wait_for(pool.request("GET", path, headers={
        "Accept": "application/json"}), run.timeout)
    run.calls.append(Call("page", started, time.monotonic() - started,
                          None if answer.status == 200 else f"HTTP {answer.status}"))
    return json.loads(decoded(answer))


def triggered_by(page: Page, tick: tuple[str, str]) -> list[tuple[dict, dict]]:
    """(callback, match) of each request one interval tick sends: one per MATCH instance."""
    found = []
    for cb in page.callbacks:
        if not any((d["id"], d["property"]) == tick for d in cb["inputs"]):
            continue
        pattern = next((json.loads(p.rsplit(".", 1)[0]) for p in cb["output"].strip(".")
                        .split("...") if p.startswith("{") and '["MATCH"]' in p), None)
        if pattern is None:
            found.append((cb, {}))
            continue
        for id_ in page.ids(pattern["type"]):
            found.append((cb, {k: id_[k] for k, v in pattern.items() if v == ["MATCH"]}))
    return found


async def send_tick(run: Run, pool: Pool, page: Page, tick, n: int | None) -> None:
    """Every request of one interval tick at once (``n`` None: the page's initial calls)."""
    if n is not None:
        page.props[tick] = n
    triggered = [tick] if n is not None else []
    await asyncio.gather(*(post(run, pool, page, cb, page.body(cb, triggered, match),
                                tick=n is not None)
                           for cb, match in triggered_by(page, tick)))


async def ticking(run: Run, pool: Pool, page: Page, tick, every: float) -> None:
    """A dcc.Interval: a tick every ``every`` s whether or not the last one was answered."""
    n, tasks = 0, []
    next_at = time.monotonic() + every
    while next_at < run.until:
        await asyncio.sleep(next_at - time.monotonic())
        n += 1
        tasks.append(asyncio.create_task(send_tick(run, pool, page, tick, n)))
        next_at += every
    await asyncio.gather(*tasks)


async def viewer(run: Run, delay: float, tabs: tuple[str, ...]) -> None:
    """One browser: load the page, its initial calls, then its tabs' intervals until the end.

    dcc.Tabs mounts the shown tab only, so only its dcc.Interval ticks; ``tabs`` of both is a
    viewer with the page open twice (on one set of connections).
    """
    await asyncio.sleep(delay)
    pool = Pool(*run.base)
    try:
        page = Page(await get_json(run, pool, "/_dash-layout"),
                    await get_json(run, pool, "/_dash-dependencies"))
        page.props[(ids.TABS, "value")] = tabs[0]
        await send_tick(run, pool, page, STATUS_TICK, None)  # initial calls: every tab's
        ticks = [STATUS_TICK] if "status" in tabs else []
        if "metrics" in tabs:  # the panels are built once the tab is shown and measured
            page.props[(ids.METRICS_WIDTH, "data")] = PANEL_WIDTH  # (clientside panelWidth)
            build = page.callback(lambda out: f"{ids.METRICS_PANELS}.children" in out)
            await post(run, pool, page, build, page.body(build, [(ids.METRICS_WIDTH, "data")]),
                       tick=False)
            await send_tick(run, pool, page, METRICS_TICK, None)
            ticks.append(METRICS_TICK)
        await asyncio.gather(*(ticking(run, pool, page, t, page.props[(t[0], "interval")] / 1000)
                               for t in ticks))
    except (HttpError, TimeoutError, LookupError, ValueError) as exc:
        run.calls.append(Call("page", time.monotonic(), 0.0, f"page did not load: {exc}"))
    finally:
        pool.close()


#: which tabs each viewer polls: every other viewer on each tab, or each on both
MIXES = {"split": [("status",), ("metrics",)], "both": [("status", "metrics")]}


async def viewers(base: tuple[str, int], count: int, seconds: float, timeout: float,
                  mix: str) -> Run:
    """``count`` viewers arriving over the first 2 s, ticking for ``seconds``."""
    run = Run(base, time.monotonic() + seconds, timeout)
    rng, tabs = random.Random(count), MIXES[mix]
    await asyncio.gather(*(viewer(run, rng.uniform(0, 2), tabs[i % len(tabs)])
                           for i in range(count)))
    return run


# ---------------------------------------------------------------- servers and figures


def dashboard_toml(port: int, cache: Path, proxy_routes: dict[str, Route], server: str) -> str:
    """The dashboard's config: the demo stack, every upstream through the counting proxy."""
    lines = ["[server]", f'host = "{HOST}"', f"port = {port}", server,
             "[cache]", f'dir = "{cache}"', "",
             "[prometheus]", f'url = "{proxy_routes["prometheus"].url}"', "",
             "[alertmanager]", f'url = "{proxy_routes["alertmanager"].url}"', "",
             "[loki]", 'url = ""', "", "[metrics]", "scrape_interval = 15", ""]
    for name, kind, key, path in PROBED:
        lines += ["[[services]]", f'name = "{name}"', f'kind = "{kind}"', f'host = "{HOST}"',
                  f"port = {proxy_routes['probe-' + key].port}",
                  *([f'path = "{path}"'] if path else []), ""]
    return "\n".join(lines)


def proxy_routes(stack) -> dict[str, Route]:
    """Prometheus and Alertmanager by HTTP request, each probed service by connection."""
    routes = {key: Route(key, services.free_port(), stack.url(key))
              for key in ("prometheus", "alertmanager")}
    for _, _, key, _ in PROBED:
        routes["probe-" + key] = Route("probe-" + key, services.free_port(),
                                       f"{HOST}:{stack.ports[key]}", kind="tcp")
    return routes


def start_dashboard(kind: str, config: Path, port: int, directory: Path) -> services.Proc:
    """``python app.py`` (waitress) or ``gunicorn app:server`` (gunicorn.conf.py) on ``port``."""
    if kind == "waitress":
        args = [sys.executable, str(REPO / "app.py"), "--config", str(config)]
    else:
        args = [str(Path(sys.executable).parent / "gunicorn"), "--no-control-socket",
                "app:server"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSCOPE_")}
    env["STACKSCOPE_CONFIG"] = str(config)
    return services.start_server(kind, args, directory, port=port, url=f"http://{HOST}:{port}",
                                 cwd=REPO, env=env, timeout=90,
                                 ready=services.http_ready("/health", timeout=15))


def rss(proc: services.Proc) -> int:
    """Resident memory of the server and every process under it (gunicorn's workers)."""
    root = psutil.Process(proc.popen.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


@dataclass
class Row:
    server: str
    viewers: int
    calls: list[Call]
    rss: tuple[int, int, int] = (0, 0, 0)  # start, ramped up, end
    upstream: dict = field(default_factory=dict)
    cpu: float = 0.0
    #: share of one core this process (the load generator) used, so a reader can tell when
    #: the client rather than the server was the bottleneck
    client_cpu: float = 0.0

    def latencies(self) -> list[float]:
        return sorted(c.seconds for c in self.calls if c.error is None and c.tick)

    def errors(self) -> list[Call]:
        return [c for c in self.calls if c.error is not None]

    def p(self, q: float) -> float:
        values = self.latencies()
        if len(values) < 2:
            return values[0] if values else float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]

    def count(self, kind: str) -> int:
        return sum(c.kind == kind for c in self.calls)


def upstream_delta(before: dict, after: dict) -> dict:
    """Panels' query_range calls, other Prometheus and Alertmanager calls, probe connections."""
    def http(counts, name, path=None):
        paths = counts["http"].get(name, {})
        return paths.get(path, 0) if path else sum(paths.values())

    def probes(counts):
        return sum(n for name, n in counts["tcp"].items() if name.startswith("probe-"))

    panels = http(after, "prometheus", "/api/v1/query_range") - http(
        before, "prometheus", "/api/v1/query_range")
    prom = http(after, "prometheus") - http(before, "prometheus") - panels
    return {"panels": panels, "status": prom + http(after, "alertmanager") - http(
        before, "alertmanager"), "probes": probes(after) - probes(before)}


def cpu(proc: services.Proc) -> float:
    """CPU seconds the server and every process under it have used."""
    root = psutil.Process(proc.popen.pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def phase(proc: services.Proc, proxy: services.Proc, label: str, count: int, seconds: float,
          args) -> Row:
    """``count`` viewers for ``seconds`` against ``proc``: calls, RSS, CPU, upstream calls.

    RSS is read at the start, once the viewers have arrived and a quarter of the time has
    passed (caches and thread stacks filled: "ramped up"), and at the end.
    """
    counts, memory, used = read_counts(proxy), [rss(proc)], cpu(proc)
    ramp = threading.Timer(2 + seconds / 4, lambda: memory.append(rss(proc)))
    ramp.start()
    mix = "both" if count == 1 else args.tabs
    wall, own = time.monotonic(), time.process_time()
    run = asyncio.run(viewers((proc.host, proc.port), count, seconds, args.timeout, mix))
    own, wall = time.process_time() - own, time.monotonic() - wall
    ramp.join()
    return Row(label, count, run.calls, (*memory, rss(proc)),
               upstream_delta(counts, read_counts(proxy)), cpu(proc) - used, own / wall)


def measure(name: str, stack_dir: Path, routes, proxy, args) -> tuple[Row, Row]:
    """One server: the one-viewer baseline, then ``args.viewers`` viewers."""
    kind, server_toml = SERVERS[name]
    port = services.free_port()
    config = stack_dir / f"{name}.toml"
    config.write_text(dashboard_toml(port, stack_dir / f"cache-{name}", routes, server_toml))
    print(f"{name}: serving on {HOST}:{port} ({kind}); 1 viewer for "
          f"{args.baseline_seconds:g} s, then {args.viewers} for {args.seconds:g} s …",
          flush=True)
    with start_dashboard(kind, config, port, stack_dir / name) as proc:
        one = phase(proc, proxy, name, 1, args.baseline_seconds, args)
        many = phase(proc, proxy, name, args.viewers, args.seconds, args)
    return one, many


# ---------------------------------------------------------------- the table


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def per_call(part: float, calls: int) -> str:
    """Upstream calls per viewer call: "1/40" below one, "2.50" above, with the counts."""
    if not calls:
        return "-"
    value = part / calls
    shown = "0" if not part else f"{value:.2f}" if value >= 1 else f"1/{1 / value:.0f}"
    return f"{shown} ({part:g}/{calls})"


def table(pairs: list[tuple[Row, Row]]) -> str:
    """One line per server and phase."""
    head = ("server", "viewers", "calls", "errors", "p50", "p95", "max", "p95 / 1 viewer",
            "CPU / call", "RSS start / ramped / end", "panels: query_range", "Prom. section: calls",
            "probes: rounds")
    rows = [head]
    for one, many in pairs:
        for row in (one, many):
            start, ramped, end = row.rss
            up = row.upstream
            rows.append((
                row.server, str(row.viewers), str(len(row.calls)), str(len(row.errors())),
                ms(row.p(50)), ms(row.p(95)), ms(max(row.latencies(), default=0)),
                f"{row.p(95) / one.p(95):.2f}x" if row is many else "baseline",
                f"{row.cpu / max(len(row.calls), 1) * 1000:.1f} ms",
                f"{start / 2**20:.0f} / {ramped / 2**20:.0f} / {end / 2**20:.0f} MB "
                f"({(end - ramped) / ramped:+.0%})",
                per_call(up["panels"], row.count("metrics")),
                per_call(up["status"], row.count("prom")),
                per_call(up["probes"] / len(PROBED), row.count("status"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                     for r in rows)


def verdicts(pairs: list[tuple[Row, Row]]) -> tuple[list[str], bool]:
    """Each server's goals, met or not; whether every server but ``before`` met them."""
    lines, ok = [], True
    for one, many in pairs:
        _, ramped, end = many.rss
        kinds = sorted({c.error for c in many.errors()})
        checks = {"0 errors": not many.errors(),
                  "p95 <= 3x one viewer": many.p(95) <= 3 * one.p(95),
                  "RSS flat within 10% once ramped up": abs(end - ramped) <= 0.1 * ramped}
        missed = [goal for goal, met in checks.items() if not met]
        if many.server != "before":
            ok = ok and not missed
        lines.append(f"{many.server}: " + ("all goals met" if not missed else
                                           "missed: " + ", ".join(missed))
                     + (f"; errors: {'; '.join(kinds[:3])}" if kinds else ""))
    return lines, ok


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.viewers",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60, help="the N-viewer phase")
    parser.add_argument("--baseline-seconds", type=float, default=15,
                        help="the one-viewer phase before it")
    parser.add_argument("--server", choices=["waitress", "gunicorn", "both"], default="both")
    parser.add_argument("--before", action="store_true",
                        help="first the old waitress settings (100 connections, 16 threads)")
    parser.add_argument("--tabs", choices=sorted(MIXES), default="split",
                        help="split: every other viewer on Status, the others on Metrics; "
                             "both: each viewer polls both (the one-viewer baseline does)")
    parser.add_argument("--timeout", type=float, default=30,
                        help="seconds a call may take before it counts as an error")
    parser.add_argument("--history-days", type=float, default=0.1)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    names = (["before"] if args.before else []) + (
        ["waitress", "gunicorn"] if args.server == "both" else [args.server])
    with tempfile.TemporaryDirectory(prefix="bench-viewers-") as tmp:
        directory = Path(tmp)
        print("starting the demo stack …", flush=True)
        stack = start_stack(directory, resolve_ports({}, {}, free=True),
                            history_days=args.history_days, say=lambda line: None)
        try:
            routes = proxy_routes(stack)
            with start_counting_proxy(directory / "proxy", list(routes.values())) as proxy:
                pairs = [measure(name, directory, routes, proxy, args) for name in names]
        finally:
            stack.stop()
    print()
    print(table(pairs))
    lines, ok = verdicts(pairs)
    print("\n".join(["", *lines]))
    busiest = max((row for pair in pairs for row in pair), key=lambda r: r.client_cpu)
    print(f"The load generator used at most {busiest.client_cpu:.0%} of one core "
          f"({busiest.server}, {busiest.viewers} viewers).")
    print("Upstream calls per viewer call, counted at the upstream (stack/counting_proxy.py): "
          "panels: Prometheus query_range calls per panel call; Prom. section: Prometheus and "
          "Alertmanager calls per call of the Status tab's Prometheus section; probes: "
          f"connections reaching the {len(PROBED)} probed services / {len(PROBED)} per call "
          "of the Status cards. Percentiles: calls sent on an interval's tick.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
