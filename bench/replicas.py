"""Viewers of the Metrics panels across replicas: upstream calls per viewer call.

    .venv/bin/python -m bench.replicas [--viewers 50] [--seconds 30] [--replicas 2]

Starts ``python -m stack.run --replicas N`` (free ports, a short history) in a temp dir and,
on the same stack, one more dashboard as ``make run`` serves it alone: its own ``cache.dir``,
no ``cache.url`` (the baseline). Then, first on the baseline, then through the replicas' NGINX,
N viewers (threads, each its own session cookie) open the Metrics tab as a browser does (the
page, ``/_dash-layout``, ``/_dash-dependencies``, the panels built at 590 px) and post every
panel's render callback on each tick of the tab's ``dcc.Interval`` (``refresh.metrics``) for
``--seconds``. Upstream calls are counted at Prometheus itself: its own
``prometheus_http_requests_total{handler="/api/v1/query_range"}`` before and after (read from
its /metrics, not through a scrape). Prints query_range calls per panel call for both, and
their ratio: about 1 when the replicas share one answer per panel per TTL as a single process
does, about N when each replica asked on its own.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.dash_page import ENDPOINT, Page
from bench.viewers import triggered_by
from layouts import ids
from stack import services

REPO = Path(__file__).resolve().parents[1]
HOST = services.LOCALHOST
#: the Metrics plot width the page's panelWidth measures in a 1400 px window (two columns)
PANEL_WIDTH = 590
TICK = (ids.range_id("metrics", ids.RANGE_INTERVAL), "n_intervals")
WIDTH = (ids.METRICS_WIDTH, "data")


# ---------------------------------------------------------------- one viewer


class Viewer:
    """One browser on the Metrics tab: its own session cookie, the panels it was given."""

    def __init__(self, base: str, timeout: float = 60):
        self.base, self.timeout = base, timeout
        self.http = requests.Session()
        self.page: Page | None = None
        self.calls = 0  # panel render calls posted
        self.errors: list[str] = []

    def get(self, path: str):
        resp = self.http.get(self.base + path, timeout=self.timeout)
        resp.raise_for_status()
        return resp

    def post(self, cb: dict, body: dict) -> dict | None:
        resp = self.http.post(self.base + ENDPOINT, data=json.dumps(body), timeout=self.timeout,
                              headers={"Content-Type": "application/json"})
        if resp.status_code not in (200, 204):
            self.errors.append(f"HTTP {resp.status_code}: {resp.text[:200]}")
            return None
        return resp.json() if resp.status_code == 200 else None

    def open(self, state: dict | None = None) -> None:
        """Load the page and build the Metrics panels (``state``: another range to show)."""
        self.get("/?tab=metrics")  # the session cookie
        self.page = Page(self.get("/_dash-layout").json(), self.get("/_dash-dependencies").json())
        self.page.props[(ids.TABS, "value")] = "metrics"
        self.page.props[WIDTH] = PANEL_WIDTH  # (clientside panelWidth)
        if state is not None:
            self.page.props[(ids.range_id("metrics", ids.RANGE_STATE), "data")] = state
        build = self.page.callback(lambda out: f"{ids.METRICS_PANELS}.children" in out)
        answer = self.post(build, self.page.body(build, [WIDTH]))
        if answer:
            self.page.apply(answer)

    def panels(self) -> list[dict]:
        """The render callback's MATCH ids: one per panel built."""
        return self.page.ids(ids.METRICS_GRAPH)

    def tick(self, n: int) -> None:
        """The tab's interval fired the ``n``-th time: every request it sends (one render
        call per panel), one after another."""
        self.page.props[TICK] = n
        for cb, match in triggered_by(self.page, TICK):
            self.post(cb, self.page.body(cb, [TICK], match))
            self.calls += ids.METRICS_GRAPH in cb["output"]


def viewers(base: str, count: int, *, ticks: int = 1, every: float = 0.0,
            state: dict | None = None) -> list[Viewer]:
    """``count`` viewers (threads) open the tab at once, then tick ``ticks`` times together,
    ``every`` seconds apart (0: back to back)."""
    crowd = [Viewer(base) for _ in range(count)]
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(lambda v: v.open(state), crowd))
        for n in range(1, ticks + 1):
            started = time.monotonic()
            list(pool.map(lambda v: v.tick(n), crowd))  # noqa: B023 (used at once)
            if n < ticks:
                time.sleep(max(0.0, every - (time.monotonic() - started)))
    return crowd


# ---------------------------------------------------------------- counting at Prometheus


def query_range_calls(prometheus_url: str) -> int:
    """Prometheus' own count of /api/v1/query_range requests so far (all status codes)."""
    text = requests.get(prometheus_url + "/metrics", timeout=10).text
    pattern = r'^prometheus_http_requests_total\{[^}]*handler="/api/v1/query_range"[^}]*\} (\S+)'
    return int(sum(float(v) for v in re.findall(pattern, text, flags=re.M)))


@dataclass
class Figure:
    label: str
    viewers: int
    panel_calls: int
    upstream: int
    errors: int
    seconds: float

    @property
    def ratio(self) -> float:
        return self.upstream / max(self.panel_calls, 1)

    def line(self) -> str:
        per = f"1/{1 / self.ratio:.0f}" if self.ratio else "0"
        return (f"{self.label:<28} {self.viewers:>3} viewers  {self.panel_calls:>6} panel calls  "
                f"{self.upstream:>4} query_range  {per:>7} per call  {self.errors} errors  "
                f"{self.seconds:.0f} s")


def measure(label: str, base: str, prometheus: str, count: int, seconds: float,
            every: float) -> Figure:
    """``count`` viewers on ``base`` for about ``seconds``: what reached Prometheus."""
    before, started = query_range_calls(prometheus), time.monotonic()
    crowd = viewers(base, count, ticks=max(1, round(seconds / every)), every=every)
    return Figure(label, count, sum(v.calls for v in crowd),
                  query_range_calls(prometheus) - before,
                  sum(len(v.errors) for v in crowd), time.monotonic() - started)


# ---------------------------------------------------------------- the demo


def url_of(log_text: str, name: str) -> str:
    """The URL the readiness lines of ``stack.run`` give for ``name``."""
    line = next(x for x in log_text.splitlines() if x.strip().startswith(name + " "))
    return next(w for w in line.split() if "://" in w)


def start_run(directory: Path, replicas: int, history_days: float) -> services.Proc:
    """``python -m stack.run --replicas N`` on free ports, once it says the stack is up."""
    args = [sys.executable, "-m", "stack.run", "--dir", str(directory), "--free-ports",
            "--history-days", str(history_days), "--replicas", str(replicas)]
    return services.start_server("run", args, directory, cwd=REPO, timeout=180,
                                 ready=services.log_ready("Ctrl-C stops everything."))


def start_single(directory: Path) -> services.Proc:
    """The baseline: replica 1's config without ``cache.url``, its own cache, a free port."""
    port = services.free_port()
    text = (directory / "stackscope-dashboard-1.toml").read_text()
    text = re.sub(r"^url = \"redis://[^\"]*\"\n", "", text, count=1, flags=re.M)
    text = re.sub(r"^port = \d+\n", f"port = {port}\n", text, count=1, flags=re.M)
    text = text.replace(str(directory / "cache-dashboard-1"), str(directory / "cache-single"))
    config = directory / "stackscope-single.toml"
    config.write_text(text)
    args = [sys.executable, str(REPO / "app.py"), "--config", str(config)]
    return services.start_server("single", args, directory / "single", port=port,
                                 url=f"http://{HOST}:{port}", cwd=REPO, timeout=90,
                                 ready=services.http_ready("/health"))


def refresh_metrics(directory: Path) -> float:
    """``refresh.metrics`` of the demo's dashboards (the tab's interval), in seconds."""
    from config import load_config

    return load_config(str(directory / "stackscope-dashboard-1.toml"), env={}).refresh.metrics


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--history-days", type=float, default=0.05)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        directory = Path(tmp)
        print(f"starting the demo stack with {args.replicas} replicas …", flush=True)
        with start_run(directory, args.replicas, args.history_days) as run:
            out = run.log_path.read_text()
            prometheus, front = url_of(out, "Prometheus"), url_of(out, "Dashboard")
            every = refresh_metrics(directory)
            with start_single(directory) as single:
                one = measure("1 dashboard (diskcache)", single.url, prometheus, args.viewers,
                              args.seconds, every)
            print(one.line(), flush=True)
            many = measure(f"{args.replicas} replicas via NGINX (Redis)", front, prometheus,
                           args.viewers, args.seconds, every)
            print(many.line(), flush=True)
            run.popen.send_signal(2)  # Ctrl-C: stack.run stops everything it started
            run.popen.wait(60)
    print(f"\nquery_range calls per panel call, {args.replicas} replicas / 1 dashboard: "
          f"{many.ratio / one.ratio:.2f}x (1 = shared as in one process, "
          f"{args.replicas} = not shared); interval {every:g} s")
    return 0 if not (one.errors or many.errors) else 1


if __name__ == "__main__":
    sys.exit(main())
