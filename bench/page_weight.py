"""Bytes over the wire and time to draw for a cold load of each tab, in headless Chromium.

The demo stack (``stack.run.start_stack``: Prometheus with a week of history, Alertmanager,
node_exporter, Redis, NGINX, the demo API) on free ports in a temp dir, plus Loki's API
stand-in (``stack.loki_api``) holding 6 000 JSON lines of the last 40 minutes, so the Logs tab
draws 5 000 rows. Two dashboards (``python app.py``) serve it, each with its own cache dir:

- baseline: ``[server] compress = false``, i.e. the answers as Dash sends them;
- ours: compression on (the default).

Each round loads, with an empty browser cache, the Status tab, the Metrics tab at 1 h and at
7 d, and the Logs tab, from each dashboard in turn. Bytes are Chromium's
``encodedDataLength`` (headers and body as sent, compressed when compressed) from the
DevTools performance log, summed until the tab is drawn. Times are from navigation start
(``performance.now()``, recorded in the page): the first status card; every Metrics panel
drawn with its traces; the Logs grid's first row. Medians over the rounds are printed with
the ratio ours / baseline, and the size of the 5 000-row Logs answer each way.

    python bench/page_weight.py [--rounds N] [--dir DIR] [--history-days D]

``--dir`` keeps the stack (and its history, reused on the next run) there instead of a temp
dir.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ENTRIES = 6_000
LOG_QUERY = '{job="api"} | json'
GOALS = {"Metrics 1 h": 2.5e6, "first status card": 0.7, "panels 1 h": 1.5, "panels 7 d": 1.5}
KINDS = {  # a kind of download: words in its URL
    "plotly.js": ("plotly.min.js",),
    "AG Grid entry": ("dash_ag_grid.v",),
    "AG Grid async chunk": ("dash_ag_grid/async-",),
    "callback answers": ("_dash-update-component",),
}
TABS = {  # name: (URL query, what "drawn" means)
    "Status": ("/", "card"),
    "Metrics 1 h": ("/?tab=metrics&metrics.from=now-1h", "panels"),
    "Metrics 7 d": ("/?tab=metrics&metrics.from=now-7d", "panels"),
    "Logs": ("/?tab=logs", "rows"),
}

#: Runs in every page before its own scripts: records when each tab is first drawn.
PROBE_JS = """
window.__bench = {};
const drawn = (el) => { const gd = el.querySelector('.js-plotly-plot');
  return gd && gd._fullData && gd.data && gd.data.length > 0; };
const timer = setInterval(() => {
  const b = window.__bench, now = performance.now();
  if (!b.card && document.querySelector('.status-card')) { b.card = now; }
  const panels = document.querySelectorAll('.metrics-panel');
  if (!b.panels && panels.length && Array.from(panels).every(drawn)) {
    b.panels = now; b.panelCount = panels.length; }
  if (!b.rows && document.querySelector('.ag-center-cols-container .ag-row')) { b.rows = now; }
}, 10);
"""


# --- the servers ---------------------------------------------------------------------------

def log_entries(now_s: float) -> list[tuple]:
    """``ENTRIES`` JSON lines like the demo API's, spread over the 40 minutes before now."""
    labels = {"job": "api", "app": "api", "env": "demo"}
    levels = ("info", "info", "info", "warning", "error")
    paths = ("/api/tasks", "/api/tasks/{}", "/api/users/{}", "/health", "/api/login")
    start_ns = int((now_s - 40 * 60) * 1e9)
    step = 40 * 60 * 10**9 // ENTRIES
    entries = []
    for i in range(ENTRIES):
        line = json.dumps({
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_s - 2400 + i * 0.4)),
            "level": levels[i % 5], "logger": "api.http", "message": f"request {i} handled",
            "method": ("GET", "POST")[i % 2], "path": paths[i % 5].format(i % 97),
            "status": (200, 201, 404, 500)[i % 4],
            "duration_ms": round(3 + (i * 7919) % 900 / 7, 1),
            "request_id": f"req-{i:08x}", "user_id": str(i % 53)})
        entries.append((start_ns + i * step, labels, line))
    return entries


def dashboard_config(stack, port: int, loki_url: str, compress: bool, name: str) -> Path:
    """``stack.run``'s dashboard TOML, pointed at the Loki stand-in, with its own cache dir."""
    from stack.run import dashboard_toml

    text = dashboard_toml(stack, port)
    text = text.replace(f'url = "{stack.url("loki")}"', f'url = "{loki_url}"')
    text = text.replace(f'dir = "{stack.dir / "cache"}"', f'dir = "{stack.dir / name / "cache"}"')
    if not compress:
        text = text.replace("[server]\n", "[server]\ncompress = false\n", 1)
    text += f'\n[logs]\nlimit = 5000\n\n[[log_queries]]\nname = "API"\nquery = \'{LOG_QUERY}\'\n'
    path = stack.dir / f"{name}.toml"
    path.write_text(text)
    return path


def start_dashboard(stack, name: str, loki_url: str, compress: bool):
    from stack import services

    port = services.free_port()
    config = dashboard_config(stack, port, loki_url, compress, name)
    args = [sys.executable, str(REPO / "app.py"), "--config", str(config), "--port", str(port)]
    return services.start_server(name, args, stack.dir / name, port=port, cwd=REPO,
                                 url=f"http://127.0.0.1:{port}", timeout=90,
                                 ready=services.http_ready("/health"))


# --- the browser ---------------------------------------------------------------------------

def browser():
    """Headless Debian Chromium with the DevTools performance log on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE_JS})
    return driver


def cold_load(driver, url: str, mark: str, timeout: float = 90) -> dict:
    """Load ``url`` with an empty cache; bytes and the time ``mark`` was first drawn."""
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.get_log("performance")  # drop what came before
    driver.get(url)
    deadline = time.monotonic() + timeout
    while not (bench := driver.execute_script("return window.__bench || {}")).get(mark):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: not drawn ({mark}) after {timeout} s")
        time.sleep(0.05)
    time.sleep(0.3)  # responses already under way when it was drawn
    return {"ms": bench[mark], "panels": bench.get("panelCount"),
            **traffic(driver.get_log("performance"))}


def traffic(entries) -> dict:
    """Bytes per URL (encoded, as sent), the encodings seen, the Logs table's answer."""
    urls, encodings, bodies, sizes = {}, {}, {}, {}
    for entry in entries:
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        rid = params.get("requestId")
        if msg["method"] == "Network.requestWillBeSent":
            urls[rid] = params["request"]["url"]
            bodies[rid] = params["request"].get("postData", "")
        elif msg["method"] == "Network.responseReceived":
            headers = {k.lower(): v for k, v in params["response"]["headers"].items()}
            encodings[rid] = headers.get("content-encoding", "identity")
        elif msg["method"] == "Network.loadingFinished":
            sizes[rid] = params["encodedDataLength"]
    table = [sizes[r] for r in sizes if "logs-grid.rowData" in bodies.get(r, "")]
    return {"bytes": sum(sizes.values()), "requests": len(sizes),
            "by_url": by_url(urls, sizes),
            "encodings": sorted({encodings.get(r, "?") for r in sizes}),
            "logs_answer": max(table, default=None)}


# --- the run -------------------------------------------------------------------------------

def measure(driver, apps: dict, rounds: int) -> dict:
    """``{app: {tab: [result per round]}}``, the apps taking turns on each tab."""
    results = {name: {tab: [] for tab in TABS} for name in apps}
    for r in range(rounds):
        for tab, (query, mark) in TABS.items():
            for name, proc in apps.items():
                results[name][tab].append(cold_load(driver, proc.url + query, mark))
            print(f"round {r + 1}/{rounds}: {tab} done", file=sys.stderr)
    return results


def median(rows, key):
    values = [row[key] for row in rows if row[key] is not None]
    return statistics.median(values) if values else None


def report(results: dict) -> None:
    base, ours = results["baseline"], results["ours"]
    print("\n| tab | baseline MB | ours MB | ours / baseline | encodings (ours) | requests |")
    print("| --- | --- | --- | --- | --- | --- |")
    for tab in TABS:
        b, o = median(base[tab], "bytes"), median(ours[tab], "bytes")
        print(f"| {tab} | {b / 1e6:.2f} | {o / 1e6:.2f} | {o / b:.2f}x | "
              f"{', '.join(ours[tab][-1]['encodings'])} | {ours[tab][-1]['requests']} |")
    print("\n| time from navigation start | baseline | ours | ours / baseline | goal |")
    print("| --- | --- | --- | --- | --- |")
    rows = [("first status card", "Status"), ("panels 1 h", "Metrics 1 h"),
            ("panels 7 d", "Metrics 7 d"), ("Logs grid, first row", "Logs")]
    for label, tab in rows:
        b, o = median(base[tab], "ms") / 1e3, median(ours[tab], "ms") / 1e3
        goal = f"<= {GOALS[label]} s" if label in GOALS else ""
        count = ours[tab][-1]["panels"]
        print(f"| {label}{f' ({count} panels)' if count else ''} | {b:.2f} s | {o:.2f} s | "
              f"{o / b:.2f}x | {goal} |")
    b, o = median(base["Logs"], "logs_answer"), median(ours["Logs"], "logs_answer")
    print(f"\n5 000-row Logs answer: baseline {b / 1e6:.2f} MB, ours {o / 1e6:.3f} MB "
          f"({o / b:.3f}x)")
    print("\nWhere the bytes go (kB, last round, baseline -> ours):")
    print("\n| tab | " + " | ".join(KINDS) + " | rest |")
    print("| --- |" + " --- |" * (len(KINDS) + 1))
    for tab in TABS:
        b, o = kinds(base[tab][-1]["by_url"]), kinds(ours[tab][-1]["by_url"])
        print(f"| {tab} | " + " | ".join(f"{b[k] / 1e3:.0f} -> {o[k] / 1e3:.0f}"
                                         for k in [*KINDS, "rest"]) + " |")
    met = median(ours["Metrics 1 h"], "bytes") <= GOALS["Metrics 1 h"]
    print(f"\ngoal: Metrics tab <= 2.5 MB: {'met' if met else 'MISSED'}")


def by_url(urls: dict, sizes: dict) -> dict:
    """Bytes per URL, summed over its requests (callbacks share one URL)."""
    out: dict[str, int] = {}
    for rid, n in sizes.items():
        out[urls.get(rid, rid)] = out.get(urls.get(rid, rid), 0) + n
    return out


def kinds(by_url: dict) -> dict:
    """Bytes per kind of download (``KINDS``), the rest summed as "rest"."""
    out = dict.fromkeys([*KINDS, "rest"], 0)
    for url, n in by_url.items():
        kind = next((k for k, words in KINDS.items() if any(w in url for w in words)), "rest")
        out[kind] += n
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", help="keep the stack here (its history is reused next time)")
    parser.add_argument("--history-days", type=float, default=None,
                        help="days of history to write when there is none (default 7 + 1 h)")
    args = parser.parse_args(argv)

    from stack.loki_api import LokiAPI
    from stack.run import DEFAULT_DAYS, resolve_ports, start_stack

    with ExitStack() as stack_exit:
        directory = args.dir or stack_exit.enter_context(tempfile.TemporaryDirectory())
        ports = resolve_ports({}, {}, free=True)
        stack = start_stack(directory, ports, history_days=args.history_days or DEFAULT_DAYS,
                            say=lambda text: print(text, file=sys.stderr))
        stack_exit.callback(stack.stop)
        loki = stack_exit.enter_context(LokiAPI().load(log_entries(time.time())))
        apps = {name: stack_exit.enter_context(start_dashboard(stack, name, loki.url, compress))
                for name, compress in (("baseline", False), ("ours", True))}
        driver = browser()
        stack_exit.callback(driver.quit)
        for query, mark in TABS.values():  # let both apps warm up (imports, first probes)
            for proc in apps.values():
                cold_load(driver, proc.url + query, mark)
        report(measure(driver, apps, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
