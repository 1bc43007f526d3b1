"""A week of history for the demo stack, written once into Prometheus' TSDB before it starts.

``generate`` is pure: from an end time, the scrape targets' instance labels and one real
node_exporter scrape, it writes OpenMetrics text for the demo API's series (the workload model
of ``stack.demo_api``) and a few node series, with daily waves, one incident (an error spike
and a latency jump after a bad deploy, three days back around 14:20 UTC) and the deploys as
``app_build_info{version}`` changing. The series carry the same job/instance/label names as
the live scrape, so the history continues into live data.

Samples are 30 s apart: a $__rate_interval never shorter than 4 × 15 s (60 s) then always
holds two samples, so zooming into the past works; 15 s would double the work for nothing.

Node counters end at the values the live exporter reports now (where a week of usage would
go below zero, the counter restarts, as after a reboot), so rate() shows no jump where
history meets the live scrape. History ends before Prometheus first starts and is never
regenerated while its marker and blocks exist: backfilled blocks must not overlap samples
Prometheus already holds (on start the head drops WAL samples older than the newest block).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from stack import openmetrics, services
from stack.demo_api import (
    BUCKETS,
    HIT_RATIO,
    PEAK_RPS,
    PEAK_SESSIONS,
    ROUTES,
    VERSION,
    WS_ROUTE,
    daily_shape,
    latency_scale,
    lognormal_mean,
)
from stack.openmetrics import Family

DAY = 86_400
RESOLUTION = 30
#: A week and an hour: at the "7 d" range the first rate window (~20 m there) then holds full
#: data; a series' first window makes rate() extrapolate low (a CPU "spike" at the left edge).
DEFAULT_DAYS = 7 + 1 / 24
#: The incident: latency × this, error ratios from Route.incident_fail_ratio.
INCIDENT_SLOWDOWN = 6.0
INCIDENT_HIT_RATIO = 0.5
#: Mean length of a WebSocket-like session in the live traffic (uniform 5–20 s).
SESSION_SECONDS = 12.5
MARKER = "stackscope-history.json"


@dataclass(frozen=True)
class Targets:
    """The live scrape's job and instance labels the history must carry."""

    api: str
    node: str
    api_job: str = "api"
    node_job: str = "node"


@dataclass(frozen=True)
class Story:
    """What happened during the week: the incident window and the deploys."""

    incident: tuple[float, float]
    deploys: tuple[tuple[float, str], ...]  # (from, version), in order


def story(end: float) -> Story:
    """The week's events, placed relative to the UTC day of ``end``."""
    today = math.floor(end / DAY) * DAY
    start = today - 3 * DAY + 14 * 3600 + 20 * 60
    incident = (start, start + 90 * 60)
    deploys = ((-math.inf, "1.3.2"), (start - 120, "1.4.0"), (incident[1] - 180, "1.4.1"),
               (today - DAY + 10 * 3600, VERSION))
    return Story(incident, deploys)


@dataclass
class Series:
    """One series: sample name, labels, values on the timeline (NaN where there is no sample).

    Its family is a ``stack.openmetrics.Family``; ``render`` gives each series its times.
    """

    name: str
    labels: dict[str, str]
    values: np.ndarray
    integer: bool = False


# ---------------------------------------------------------------- the generator


def generate(end: float, targets: Targets, node_metrics_text: str = "", *,
             days: float = DEFAULT_DAYS, resolution: int = RESOLUTION, seed: int = 5) -> str:
    """OpenMetrics text: ``days`` of demo API and node history ending at ``end``."""
    t = timeline(end, days, resolution)
    rng = np.random.default_rng(seed)
    plot = story(float(t[-1]))
    families = api_families(t, plot, targets, rng)
    families += node_families(t, plot, node_inventory(node_metrics_text), targets, rng)
    return render(t, families)


def timeline(end: float, days: float, resolution: int) -> np.ndarray:
    """Sample times in whole seconds, ``resolution`` apart, the last one at or before ``end``."""
    last = int(end // resolution * resolution)
    count = int(days * DAY // resolution) + 1
    return last - resolution * np.arange(count - 1, -1, -1, dtype=np.int64)


def in_window(t: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Boolean mask of the times inside [from, to)."""
    return (t >= window[0]) & (t < window[1])


def api_families(t, plot: Story, targets: Targets, rng) -> list[Family]:
    """The demo API's families: requests, latency, connections, cache, build info, up."""
    base = {"job": targets.api_job, "instance": targets.api}
    dt = float(t[1] - t[0]) if t.size > 1 else RESOLUTION
    shape, hit = daily_shape(t), in_window(t, plot.incident)
    rps = PEAK_RPS * shape * rng.lognormal(0, 0.08, t.size)
    requests = Family("http_requests", "counter", "HTTP requests handled.")
    latency = Family("http_request_duration_seconds", "histogram", "Time to answer a request.")
    for route in ROUTES:
        n = rng.poisson(rps * route.share * dt)
        bad = rng.binomial(n, np.where(hit, route.incident_fail_ratio, route.fail_ratio))
        for status, count in ((route.ok, n - bad), (route.fail, bad)):
            labels = {**base, "method": route.method, "route": route.route, "status": status}
            requests.series.append(Series("http_requests_total", labels, counter(count), True))
        median = route.median * latency_scale(shape) * np.where(hit, INCIDENT_SLOWDOWN, 1.0)
        latency.series += histogram_series(n, median, route.spread, {**base, "route": route.route})
    sessions = np.rint(PEAK_SESSIONS * shape)
    closed = rng.poisson(sessions * dt / SESSION_SECONDS)
    labels = {**base, "method": "GET", "route": WS_ROUTE, "status": "200"}
    requests.series.append(Series("http_requests_total", labels, counter(closed), True))
    return [requests, latency, connections(rps, sessions, hit, base, rng),
            *cache_families(rps, hit, base, dt, rng), build_info(t, plot, base), up(t, targets),
            alerts(t, plot)]


def counter(increments: np.ndarray) -> np.ndarray:
    """Cumulative values of a counter from its per-step increments."""
    return np.cumsum(increments, dtype=float)


def lognormal_cdf(x, median, spread):
    """P(latency ≤ x) for a log-normal latency (vectorised; no scipy)."""
    return 0.5 * (1 + erf(np.log(x / median) / (spread * math.sqrt(2))))


def erf(x):
    """The error function, |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26)."""
    sign, x = np.sign(x), np.abs(x)
    k = 1 / (1 + 0.3275911 * x)
    poly = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027
                                                                      + k * 1.061405429))))
    return sign * (1 - poly * np.exp(-x * x))


def histogram_series(n, median, spread, labels) -> list[Series]:
    """Cumulative bucket, sum and count series for ``n`` requests per step."""
    bounds = np.array(BUCKETS)
    # Rounding is monotone, so bucket counts stay cumulative across `le` at every step.
    per_bucket = np.rint(n[:, None] * lognormal_cdf(bounds[None, :], median[:, None], spread))
    out = [Series("http_request_duration_seconds_bucket", {**labels, "le": floatToGoString(le)},
                  counter(per_bucket[:, i]), True) for i, le in enumerate(BUCKETS)]
    out.append(Series("http_request_duration_seconds_bucket", {**labels, "le": "+Inf"},
                      counter(n), True))
    out.append(Series("http_request_duration_seconds_sum", labels,
                      counter(n * lognormal_mean(1.0, spread) * median)))
    out.append(Series("http_request_duration_seconds_count", labels, counter(n), True))
    return out


def connections(rps, sessions, hit, base, rng) -> Family:
    """Open sessions plus requests in flight (rate × mean latency; slower in the incident)."""
    mean = sum(r.share * lognormal_mean(r.median, r.spread) for r in ROUTES)
    in_flight = rng.poisson(rps * mean * np.where(hit, INCIDENT_SLOWDOWN, 1.0))
    return Family("http_active_connections", "gauge", "Requests and sessions open now.",
                  [Series("http_active_connections", base, sessions + in_flight, True)])


def cache_families(rps, hit, base, dt, rng) -> list[Family]:
    """Item lookups answered by Redis, or not (a cache stampede during the incident)."""
    items = next(r for r in ROUTES if r.route == "/api/items/:id")
    lookups = rng.poisson(rps * items.share * dt)
    hits = rng.binomial(lookups, np.where(hit, INCIDENT_HIT_RATIO, HIT_RATIO))
    return [Family("cache_hits", "counter", "Item lookups answered by Redis.",
                   [Series("cache_hits_total", base, counter(hits), True)]),
            Family("cache_misses", "counter", "Item lookups Redis did not have.",
                   [Series("cache_misses_total", base, counter(lookups - hits), True)])]


def build_info(t, plot: Story, base) -> Family:
    """app_build_info{version} = 1 while that version ran: the deploy markers."""
    family = Family("app_build_info", "gauge", "The running version (always 1).")
    bounds = [start for start, _ in plot.deploys[1:]] + [math.inf]
    for (start, version), until in zip(plot.deploys, bounds, strict=True):
        running = in_window(t, (start, until))
        if running.any():
            values = np.where(running, 1.0, np.nan)
            family.series.append(Series("app_build_info", {**base, "version": version}, values,
                                        True))
    return family


#: how long LatencyP95High (stack/config/rules.yml) must hold before it fires
LATENCY_ALERT_FOR = 5 * 60


def alerts(t, plot: Story) -> Family:
    """ALERTS as Prometheus would have recorded it, had it evaluated the demo's rules all week:
    ErrorBudgetBurn fires throughout (the API fails ~0.5 % of requests, over its 0.2 % budget)
    and LatencyP95High from 5 minutes into the incident to its end. (Watchdog, always firing
    with severity "none", is left out: the annotations skip it anyway.)"""
    family = Family("ALERTS", "gauge", "Alerts firing (recorded by rule evaluation).")
    slow = in_window(t, (plot.incident[0] + LATENCY_ALERT_FOR, plot.incident[1]))
    for name, severity, firing in (("ErrorBudgetBurn", "warning", np.ones(t.size, bool)),
                                   ("LatencyP95High", "warning", slow)):
        if firing.any():
            family.series.append(Series(
                "ALERTS", {"alertname": name, "alertstate": "firing", "severity": severity},
                np.where(firing, 1.0, np.nan), True))
    return family


def up(t, targets: Targets) -> Family:
    """up = 1 for both scraped targets all week."""
    ones = np.ones(t.size)
    return Family("up", "gauge", "Whether the target answered its scrape.", [
        Series("up", {"job": targets.api_job, "instance": targets.api}, ones, True),
        Series("up", {"job": targets.node_job, "instance": targets.node}, ones, True)])


# ---------------------------------------------------------------- node series


@dataclass(frozen=True)
class NodeInventory:
    """What one real node_exporter scrape says: label sets and their values now."""

    cpu: tuple[tuple[dict, float], ...] = ()
    memory: tuple[float, float] | None = None  # (MemTotal, MemAvailable)
    filesystems: tuple[tuple[dict, float, float], ...] = ()  # (labels, avail, size)
    network: tuple[tuple[str, dict, float], ...] = ()  # (sample name, labels, value)


def node_inventory(text: str) -> NodeInventory:
    """The node series to continue, read from a node_exporter /metrics body."""
    samples: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    total = samples.get("node_memory_MemTotal_bytes", [])
    avail = samples.get("node_memory_MemAvailable_bytes", [])
    sizes = {json.dumps(lb, sort_keys=True): v for lb, v in samples.get(
        "node_filesystem_size_bytes", [])}
    filesystems = tuple((lb, v, sizes[json.dumps(lb, sort_keys=True)]) for lb, v in samples.get(
        "node_filesystem_avail_bytes", []) if json.dumps(lb, sort_keys=True) in sizes)
    network = tuple((name, lb, v) for name in ("node_network_receive_bytes_total",
                                               "node_network_transmit_bytes_total")
                    for lb, v in samples.get(name, []))
    return NodeInventory(cpu=tuple(samples.get("node_cpu_seconds_total", [])),
                         memory=(total[0][1], avail[0][1]) if total and avail else None,
                         filesystems=filesystems, network=network)


#: Share of a busy CPU's time per mode; idle takes the rest.
BUSY_MODES = {"user": 0.62, "system": 0.25, "softirq": 0.04, "irq": 0.01, "nice": 0.03,
              "steal": 0.03, "iowait": 0.02}
#: Bytes per second at the daily peak on a device that has seen traffic.
NETWORK_PEAK = {"node_network_receive_bytes_total": 60_000.0,
                "node_network_transmit_bytes_total": 35_000.0}


def node_families(t, plot: Story, inv: NodeInventory, targets: Targets, rng) -> list[Family]:
    """CPU, memory, filesystem and network series that end where the live exporter is now."""
    base = {"job": targets.node_job, "instance": targets.node}
    dt = float(t[1] - t[0]) if t.size > 1 else RESOLUTION
    shape, hit = daily_shape(t), in_window(t, plot.incident)
    return [cpu_family(inv, base, shape, hit, dt, rng), *memory_families(inv, base, shape, hit,
                                                                         rng),
            *filesystem_families(t, inv, base), *network_families(inv, base, shape, dt, rng)]


def anchored(cumulative: np.ndarray, live: float) -> np.ndarray:
    """Counter values that end at ``live``; before they would go negative, a restart."""
    values = live - (cumulative[-1] - cumulative)
    restarted = values < 0
    # Before the restart the host had been up a while: a counter starting at 0 on the first
    # sample would make rate() extrapolate the left edge of the week towards zero.
    values[restarted] = cumulative[restarted] + cumulative[-1]
    return values


def cpu_family(inv, base, shape, hit, dt, rng) -> Family:
    """node_cpu_seconds_total per cpu and mode: busier by day and in the incident."""
    family = Family("node_cpu_seconds", "counter", "Seconds the CPUs spent in each mode.")
    busy: dict[str, np.ndarray] = {}
    for labels, live in inv.cpu:
        cpu = labels.get("cpu", "")
        if cpu not in busy:
            noise = rng.normal(0, 0.02, shape.size)
            busy[cpu] = np.clip(0.04 + 0.16 * shape + 0.35 * hit + noise, 0.01, 0.95)
        mode = labels.get("mode", "")
        share = busy[cpu] * BUSY_MODES[mode] if mode in BUSY_MODES else (
            1 - busy[cpu] * sum(BUSY_MODES.values()) if mode == "idle" else 0 * busy[cpu])
        family.series.append(Series("node_cpu_seconds_total", {**base, **labels},
                                    np.round(anchored(np.cumsum(share * dt), live), 2)))
    return family


def memory_families(inv, base, shape, hit, rng) -> list[Family]:
    """MemTotal as now; MemAvailable dipping by day and in the incident, ending as now."""
    if inv.memory is None:
        return []
    total, live = inv.memory
    used = total * (0.06 * (shape - shape[-1]) + 0.10 * hit + rng.normal(0, 0.004, shape.size))
    avail = np.clip(live - used, 0.02 * total, 0.98 * total)
    avail[-1] = live
    return [Family("node_memory_MemTotal_bytes", "gauge", "Memory information field MemTotal.",
                   [Series("node_memory_MemTotal_bytes", base, np.full(shape.size, total), True)]),
            Family("node_memory_MemAvailable_bytes", "gauge",
                   "Memory information field MemAvailable.",
                   [Series("node_memory_MemAvailable_bytes", base, np.rint(avail), True)])]


def filesystem_families(t, inv, base) -> list[Family]:
    """Filesystems filling by 1 % of their size a week, ending as now."""
    avail = Family("node_filesystem_avail_bytes", "gauge", "Filesystem space available.")
    size = Family("node_filesystem_size_bytes", "gauge", "Filesystem size in bytes.")
    for labels, live, total in inv.filesystems:
        values = np.minimum(total, live + total * 0.01 * (t[-1] - t) / (7 * DAY))
        avail.series.append(Series(avail.name, {**base, **labels}, np.rint(values), True))
        size.series.append(Series(size.name, {**base, **labels}, np.full(t.size, total), True))
    return [avail, size]


def network_families(inv, base, shape, dt, rng) -> list[Family]:
    """Bytes received and sent per device, following the day; idle devices stay idle."""
    families = {name: Family(name.removesuffix("_total"), "counter", f"Network device {what}.")
                for name, what in (("node_network_receive_bytes_total", "bytes received"),
                                   ("node_network_transmit_bytes_total", "bytes sent"))}
    for name, labels, live in inv.network:
        noise = rng.lognormal(0, 0.1, shape.size)
        rate = NETWORK_PEAK[name] * shape * noise * (live > 0)
        values = anchored(np.cumsum(np.rint(rate * dt)), live)
        families[name].series.append(Series(name, {**base, **labels}, values, True))
    return list(families.values())


# ---------------------------------------------------------------- OpenMetrics text


def render(t: np.ndarray, families: list[Family]) -> str:
    """The families as OpenMetrics text, ending with ``# EOF`` (NaN values: no sample)."""
    return openmetrics.openmetrics(
        [Family(f.name, f.kind, f.help, [on_timeline(t, s) for s in f.series]) for f in families])


def on_timeline(t: np.ndarray, series: Series) -> openmetrics.Series:
    """``series`` with its sample times; samples whose value is NaN are left out."""
    keep = ~np.isnan(series.values)
    times, values = (t, series.values) if keep.all() else (t[keep], series.values[keep])
    return openmetrics.Series(series.name, series.labels, times, values, integer=series.integer,
                              decimals=None if series.integer else 4)


# ---------------------------------------------------------------- written once, then reused


@dataclass(frozen=True)
class History:
    """The history a data directory holds."""

    start: float
    end: float
    resolution: int
    targets: dict
    generated: bool = False  # True when this run wrote it

    def describe(self) -> str:
        """'7.0 days of history, 2024-05-01 12:00 to 2024-05-08 12:00 UTC'."""
        fmt = "%Y-%m-%d %H:%M"
        span = (self.end - self.start) / DAY
        return (f"{span:.1f} days of history, {time.strftime(fmt, time.gmtime(self.start))} "
                f"to {time.strftime(fmt, time.gmtime(self.end))} UTC")


def read_history(data_dir: Path) -> History | None:
    """The history recorded in ``data_dir``, if its marker and at least one block are there."""
    try:
        info = json.loads((data_dir / MARKER).read_text())
        recorded = History(info["start"], info["end"], info["resolution"], info["targets"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    blocks = [p for p in data_dir.iterdir() if (p / "meta.json").is_file()]
    return recorded if blocks else None


def ensure_history(data_dir: Path | str, targets: Targets, node_metrics: Callable[[], str], *,
                   days: float = DEFAULT_DAYS, resolution: int = RESOLUTION,
                   now: Callable[[], float] = time.time, say: Callable[[str], None] = print,
                   backfill=services.backfill_openmetrics) -> History:
    """Reuse the history in ``data_dir``, or generate and backfill it (before Prometheus runs)."""
    data_dir = Path(data_dir)
    found = read_history(data_dir)
    if found is not None:
        return found
    if data_dir.exists() and any(data_dir.iterdir()):
        say(f"{data_dir} holds data but no complete history (an interrupted first run?): "
            "starting it afresh")
        shutil.rmtree(data_dir)
    end = now()
    say(f"writing {days:g} days of history into {data_dir} (once; later runs reuse it)…")
    text = generate(end, targets, node_metrics(), days=days, resolution=resolution)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir.parent) as work:
        # Default 2 h blocks make promtool re-read the whole file once per block (84 × for a
        # week, ~100 s); one pass per 162 h block takes seconds.
        hours = max(2, math.ceil(days * 24))
        backfill(text, data_dir, workdir=work, max_block_duration=f"{hours}h")
    t = timeline(end, days, resolution)
    made = History(float(t[0]), float(t[-1]), resolution, asdict(targets), generated=True)
    (data_dir / MARKER).write_text(json.dumps(
        {"start": made.start, "end": made.end, "resolution": resolution, "targets": made.targets}))
    return made
