"""The Metrics tab's panels: the configured [[panels]], else the seed set below.

A seed is shown by default only where its metrics exist: one cached ``label_values("__name__")``
call lists every metric name Prometheus has, and a seed needs one of its ``requires`` names in
it. Queries carry Grafana's variables, filled by ``expand``: ``$job`` and ``$instance`` (regex
matchers, ".*" for all), ``$__rate_interval`` and ``$__interval``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from typing import NamedTuple

from query.promql import escape_value
from query.timerange import format_duration, rate_interval


class Panel(NamedTuple):
    """One chart: title, PromQL, unit, legend format, section; seeds name what they need.

    ``kind`` "heatmap" draws a histogram's buckets (``quantiles``: p50/p95/p99 over them);
    ``exemplars`` adds the query's exemplars as points.
    """

    slug: str
    title: str
    query: str
    unit: str = ""
    legend: str = ""
    group: str = ""
    requires: tuple[str, ...] = ()
    kind: str = "lines"
    quantiles: bool = False
    exemplars: bool = False


ALL = ".*"
#: the ad-hoc query's panel slug; configured panels never get it, or two charts share an id
ADHOC = "adhoc"
_SEL = 'job=~"$job", instance=~"$instance"'
_RATE = "[$__rate_interval]"


def _quantiles(expr: str, by: str) -> str:
    # One query for three lines: label_replace names each quantile for the legend.
    parts = [f'label_replace(histogram_quantile({q}, sum by (le, {by}) ({expr})), '
             f'"quantile", "p{round(q * 100)}", "", "")' for q in (0.5, 0.95, 0.99)]
    return " or ".join(parts)


def _ratio(hits: str, misses: str) -> str:
    h = f"sum by (job) (rate({hits}{{{_SEL}}}{_RATE}))"
    m = f"sum by (job) (rate({misses}{{{_SEL}}}{_RATE}))"
    return f"{h} / ({h} + {m})"


def _net(direction: str, metric: str) -> str:
    return (f'label_replace(sum by (instance) (rate({metric}{{device!="lo", {_SEL}}}{_RATE})), '
            f'"direction", "{direction}", "", "")')


_REQS = f"rate(http_requests_total{{{_SEL}}}{_RATE})"
_ERRS = f'rate(http_requests_total{{status=~"5.*", {_SEL}}}{_RATE})'
_BUCKETS = f"rate(http_request_duration_seconds_bucket{{{_SEL}}}{_RATE})"
_FS = f'fstype!~"tmpfs|overlay|squashfs|ramfs|nsfs", {_SEL}'
_CONNS = "http_connections_active", "http_active_connections", "nginx_connections_active"

SEEDS: tuple[Panel, ...] = (
    Panel("request-rate", "Request rate", f"sum by (job) ({_REQS})", "req/s", "{{job}}",
          "Service overview", ("http_requests_total",)),
    Panel("error-rate", "Error rate (5xx)", f"sum by (job) ({_ERRS}) / sum by (job) ({_REQS})",
          "percentunit", "{{job}}", "Service overview", ("http_requests_total",)),
    Panel("latency", "Latency p50 / p95 / p99", _quantiles(_BUCKETS, "job"), "s",
          "{{job}} {{quantile}}", "Service overview", ("http_request_duration_seconds_bucket",),
          exemplars=True),
    Panel("latency-heatmap", "Latency heatmap", f"sum by (le) ({_BUCKETS})", "s", "",
          "Service overview", ("http_request_duration_seconds_bucket",), kind="heatmap",
          quantiles=True, exemplars=True),
    Panel("latency-native", "Latency heatmap (native histogram)",
          f"sum(rate(http_request_duration_seconds{{{_SEL}}}{_RATE}))", "s", "",
          "Service overview", ("http_request_duration_seconds",), kind="heatmap",
          quantiles=True),
    Panel("active-connections", "Active connections",
          f'sum by (job, instance) ({{__name__=~"{"|".join(_CONNS)}", {_SEL}}})', "connections",
          "{{instance}}", "Service overview", _CONNS),
    Panel("cache-hit-ratio", "Cache hit ratio", _ratio("cache_hits_total", "cache_misses_total"),
          "percentunit", "{{job}}", "Service overview", ("cache_hits_total",)),
    Panel("node-cpu", "CPU busy",
          f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle", {_SEL}}}{_RATE}))',
          "percentunit", "{{instance}}", "Nodes", ("node_cpu_seconds_total",)),
    Panel("node-memory", "Memory used",
          f"1 - node_memory_MemAvailable_bytes{{{_SEL}}} / node_memory_MemTotal_bytes{{{_SEL}}}",
          "percentunit", "{{instance}}", "Nodes", ("node_memory_MemAvailable_bytes",)),
    Panel("node-disk", "Disk used",
          f"1 - node_filesystem_avail_bytes{{{_FS}}} / node_filesystem_size_bytes{{{_FS}}}",
          "percentunit", "{{instance}} {{mountpoint}}", "Nodes",
          ("node_filesystem_avail_bytes",)),
    Panel("node-network", "Network traffic",
          _net("in", "node_network_receive_bytes_total") + " or "
          + _net("out", "node_network_transmit_bytes_total"),
          "B/s", "{{instance}} {{direction}}", "Nodes", ("node_network_receive_bytes_total",)),
    Panel("redis-ops", "Redis commands",
          f"sum by (instance) (rate(redis_commands_processed_total{{{_SEL}}}{_RATE}))", "ops/s",
          "{{instance}}", "Redis", ("redis_commands_processed_total",)),
    Panel("redis-memory", "Redis memory used", f"redis_memory_used_bytes{{{_SEL}}}", "bytes",
          "{{instance}}", "Redis", ("redis_memory_used_bytes",)),
    Panel("redis-clients", "Redis connected clients", f"redis_connected_clients{{{_SEL}}}",
          "clients", "{{instance}}", "Redis", ("redis_connected_clients",)),
    Panel("container-cpu", "Container CPU",
          f'sum by (name) (rate(container_cpu_usage_seconds_total{{name!="", {_SEL}}}{_RATE}))',
          "cores", "{{name}}", "Containers", ("container_cpu_usage_seconds_total",)),
    Panel("container-memory", "Container memory (working set)",
          f'sum by (name) (container_memory_working_set_bytes{{name!="", {_SEL}}})', "bytes",
          "{{name}}", "Containers", ("container_memory_working_set_bytes",)),
)


_OWN = f"{{{_SEL}}}{_RATE}"
#: the dashboard's own metrics (telemetry.py), shown where Prometheus scrapes it
OWN_SEEDS: tuple[Panel, ...] = (
    Panel("stackscope-callback-p95", "Callback latency p95",
          f"histogram_quantile(0.95, sum by (le, callback) "
          f"(rate(stackscope_callback_duration_seconds_bucket{_OWN})))", "s", "{{callback}}",
          "stackscope", ("stackscope_callback_duration_seconds_bucket",)),
    Panel("stackscope-upstream-requests", "Upstream requests by outcome",
          f"sum by (upstream, outcome) (rate(stackscope_upstream_requests_total{_OWN}))",
          "req/s", "{{upstream}} {{outcome}}", "stackscope",
          ("stackscope_upstream_requests_total",)),
    Panel("stackscope-cache-hit-ratio", "Cache hit ratio",
          _ratio("stackscope_cache_hits_total", "stackscope_cache_misses_total"),
          "percentunit", "{{job}}", "stackscope", ("stackscope_cache_hits_total",)),
    Panel("stackscope-probe-round", "Probe round duration p95",
          f"histogram_quantile(0.95, sum by (le, instance) "
          f"(rate(stackscope_probe_round_duration_seconds_bucket{_OWN})))", "s",
          "{{instance}}", "stackscope", ("stackscope_probe_round_duration_seconds_bucket",)),
)
SEEDS += OWN_SEEDS


def from_config(panels: Sequence) -> tuple[Panel, ...]:
    """[[panels]] entries (title, query, unit, legend, group) as Panels with unique slugs."""
    taken = {ADHOC}
    out = []
    for p in panels:
        slug = unique_slug(p.title, taken)
        out.append(Panel(slug, p.title, p.query, p.unit, p.legend, p.group or "Panels",
                         kind=getattr(p, "kind", "lines"),
                         quantiles=getattr(p, "quantiles", False),
                         exemplars=getattr(p, "exemplars", False)))
    return tuple(out)


def unique_slug(title: str, taken: set[str]) -> str:
    """A URL- and id-safe slug for ``title``, made unique against (and added to) ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "panel"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def configured(config_panels: Sequence) -> tuple[Panel, ...]:
    """The panels to offer: the configured ones replace the seeds when there are any."""
    return from_config(config_panels) if config_panels else SEEDS


def available(panels: Iterable[Panel], metric_names: Collection[str] | None) -> list[Panel]:
    """The panels whose metrics exist; all of them when the names are unknown."""
    if metric_names is None:
        return list(panels)
    return [p for p in panels if not p.requires or any(n in metric_names for n in p.requires)]


def regex_value(values: str | Sequence[str] | None) -> str:
    """A variable's value as a regex matching exactly it (or them); ALL when none is chosen."""
    chosen = [values] if isinstance(values, str) else list(values or [])
    chosen = [v for v in chosen if v not in ("", None)]
    if not chosen:
        return ALL
    return "|".join(re.escape(v) for v in chosen)


def expand(query: str, *, step: float, scrape_interval: float, job=None, instance=None) -> str:
    """The query with $__rate_interval, $__interval, $job and $instance filled in."""
    values = {
        "__rate_interval": rate_interval(step, scrape_interval),
        "__interval": format_duration(step),
        "job": escape_value(regex_value(job)),
        "instance": escape_value(regex_value(instance)),
    }
    # Longest names first so "$__rate_interval" is not read as "$__r…"; ${name} works too.
    pattern = "|".join(re.escape(k) for k in sorted(values, key=len, reverse=True))
    return re.sub(r"\$\{(" + pattern + r")\}|\$(" + pattern + r")\b",
                  lambda m: values[m.group(1) or m.group(2)], query)
