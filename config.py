"""Configuration: one table of settings, one precedence (flag > env > file > default).

Every setting has a name, a default and one line of help here; the README documents each one
(tests/test_config.py fails when it does not). A bad value stops start-up with one line naming
the file, the key and the value (``ConfigError``; exit code 2).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

CONFIG_ENV = "STACKSCOPE_CONFIG"
DEFAULT_FILE = "stackscope.toml"


class ConfigError(Exception):
    """A bad configuration file or value: says where, which key and what value."""

    def __init__(self, source: str, key: str | None, value: Any, problem: str):
        self.source, self.key, self.value, self.problem = source, key, value, problem
        where = f"{key} = {value!r}: " if key is not None else ""
        super().__init__(f"config error in {source}: {where}{problem}")


# --- checks: each returns an error text, or None when the value is fine -----------------------

def _positive(v):
    return None if v > 0 and math.isfinite(v) else "must be a positive number"


def _port(v):
    return None if 1 <= v <= 65535 else "must be a port number between 1 and 65535"


def _url(v):
    if v == "" or v.startswith(("http://", "https://")):
        return None
    return "must be an http:// or https:// URL (or empty to disable)"


def _one_of(*choices):
    def check(v):
        return None if v in choices else f"must be one of {', '.join(map(repr, choices))}"
    return check


def _regex(v):
    try:
        re.compile(v)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    return None


def _headers(v):
    bad = [k for k, x in v.items() if not isinstance(x, str)]
    return f"header {bad[0]!r} must be a string" if bad else None


def _status_range(v):
    if (len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
            and 100 <= v[0] <= v[1] <= 599):
        return None
    return "must be [low, high] HTTP statuses with 100 <= low <= high <= 599"


@dataclass(frozen=True)
class Setting:
    """One scalar setting: dotted key, type, default, help and optional env variable."""

    key: str
    type: type | tuple[type, ...]
    default: Any
    help: str
    env: str | None = None
    check: Callable[[Any], str | None] | None = None
    secret: bool = False


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "stackscope")


def _upstream_settings(name: str, label: str, url: str, timeout: float, ttl: float) -> list:
    env = f"STACKSCOPE_{name.upper()}_"
    return [
        Setting(f"{name}.url", str, url, f"{label} base URL; empty disables it", env + "URL",
                _url),
        Setting(f"{name}.timeout", (int, float), timeout,
                f"seconds to wait for {label} (keep it below the server's own timeout)",
                check=_positive),
        Setting(f"{name}.cache_ttl", (int, float), ttl,
                f"seconds an answer from {label} is reused before asking again",
                check=_positive),
        Setting(f"{name}.bearer_token", str, "", f"bearer token sent to {label}",
                env + "BEARER_TOKEN", secret=True),
        Setting(f"{name}.username", str, "", f"basic-auth user for {label}", env + "USERNAME"),
        Setting(f"{name}.password", str, "", f"basic-auth password for {label}",
                env + "PASSWORD", secret=True),
        Setting(f"{name}.headers", dict, {}, f"extra HTTP headers sent to {label} (a table)",
                check=_headers, secret=True),
    ]


SETTINGS: list[Setting] = [
    Setting("server.host", str, "127.0.0.1", "address the dashboard listens on"),
    Setting("server.port", int, 8050, "port the dashboard listens on", check=_port),
    Setting("refresh.status", (int, float), 3, "seconds between Status tab refreshes",
            check=_positive),
    Setting("refresh.metrics", (int, float), 5, "seconds between live Metrics refreshes",
            check=_positive),
    Setting("refresh.logs", (int, float), 10, "seconds between live Logs refreshes",
            check=_positive),
    Setting("cache.dir", str, _default_cache_dir(),
            "directory of the disk cache, probe history and export files",
            "STACKSCOPE_CACHE_DIR"),
    Setting("cache.status_ttl", (int, float), 2,
            "seconds a probe round is reused (throttles probes across browser tabs)",
            check=_positive),
    Setting("cache.backoff_max", (int, float), 30,
            "longest wait, in seconds, before retrying an upstream that keeps failing",
            check=_positive),
    *_upstream_settings("prometheus", "Prometheus", "http://127.0.0.1:9090", 10, 4),
    *_upstream_settings("loki", "Loki", "http://127.0.0.1:3100", 15, 8),
    Setting("loki.tenant", str, "", "Loki tenant, sent as the X-Scope-OrgID header",
            "STACKSCOPE_LOKI_TENANT"),
    *_upstream_settings("alertmanager", "Alertmanager", "", 5, 4),
    Setting("metrics.max_data_points", int, 1000,
            "points per series asked for when the panel width is unknown", check=_positive),
    Setting("metrics.min_step", (int, float), 1, "smallest query step in seconds",
            check=_positive),
    Setting("metrics.scrape_interval", (int, float), 15,
            "Prometheus scrape interval in seconds (for rate windows)", check=_positive),
    Setting("logs.limit", int, 1000, "default number of log lines shown", check=_positive),
]

# --- limits the server owns, exports, the cache's size (issue 9, hardening) ------------------
# What the browser sends is an intent: the server clamps it to these, or refuses it.
SETTINGS += [
    Setting("logs.max_limit", int, 5000,
            "most log lines one query may ask Loki for (keep it at or under Loki's "
            "max_entries_limit_per_query)", check=_positive),
    Setting("logs.max_range", (int, float), 30 * 86400,
            "longest time range, in seconds, a Logs query or export may cover", check=_positive),
    Setting("metrics.max_range", (int, float), 366 * 86400,
            "longest time range, in seconds, a Metrics panel may cover", check=_positive),
    Setting("metrics.max_points", int, 4000,
            "most points per series a panel asks for, whatever width the browser reports",
            check=_positive),
    Setting("limits.force_interval", (int, float), 5,
            "seconds a browser session waits between forced refreshes (Refresh now, Run "
            "query again)", check=_positive),
    Setting("limits.queries_per_minute", int, 60,
            "typed queries (the Metrics tab's own query, Logs tab runs) one browser session "
            "may send per minute", check=_positive),
    Setting("exports.max_running", int, 2,
            "log exports running at once, across processes; more wait in a queue",
            check=_positive),
    Setting("exports.max_queued", int, 8, "log exports that may wait in the queue; more are "
            "refused", check=_positive),
    Setting("exports.keep", (int, float), 900,
            "seconds a finished export file waits for its download before it is deleted",
            check=_positive),
    Setting("cache.size_limit", int, 256 * 2**20,
            "bytes the disk cache may hold; past it the oldest entries are evicted",
            check=_positive),
]

SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class Field:
    """One key of an array-of-tables entry (``[[services]]`` …)."""

    name: str
    type: type | tuple[type, ...]
    default: Any
    help: str
    required: bool = False
    check: Callable[[Any], str | None] | None = None


TABLES: dict[str, list[Field]] = {
    "services": [
        Field("name", str, None, "unique display name", required=True),
        Field("kind", str, None, '"tcp" (connect) or "http" (GET)', required=True,
              check=_one_of("tcp", "http")),
        Field("host", str, "127.0.0.1", "host to probe"),
        Field("port", int, None, "port to probe", required=True, check=_port),
        Field("path", str, "/", "HTTP path to GET (http only)"),
        Field("timeout", (int, float), 2.0, "seconds before the probe gives up",
              check=_positive),
        Field("group", str, "", "cards with the same group are shown together"),
        Field("expect_status", list, [200, 399], "inclusive range of accepted HTTP statuses",
              check=_status_range),
        Field("keyword", str, "", "text the HTTP body must contain"),
    ],
    "panels": [
        Field("title", str, None, "panel title", required=True),
        Field("query", str, None, "PromQL expression", required=True),
        Field("unit", str, "", 'axis unit, e.g. "req/s", "s", "bytes", "%"'),
        Field("legend", str, "", 'legend format, e.g. "{{instance}}" (empty: full series name)'),
        Field("group", str, "", "section the panel is shown in"),
    ],
    "log_queries": [
        Field("name", str, None, "label in the predefined-query menu", required=True),
        Field("query", str, None, "LogQL expression", required=True),
    ],
    "redact": [
        Field("pattern", str, None, "regular expression to hide in log lines and exports",
              required=True, check=_regex),
        Field("replacement", str, "[REDACTED]", "text put in its place"),
    ],
}

# The stack from the services guide, on localhost.
DEFAULT_SERVICES = [
    {"name": "Redis", "kind": "tcp", "port": 6379, "group": "data"},
    {"name": "Prometheus", "kind": "http", "port": 9090, "path": "/-/ready",
     "group": "monitoring"},
    {"name": "Loki", "kind": "http", "port": 3100, "path": "/ready", "group": "monitoring"},
    {"name": "Promtail", "kind": "http", "port": 9080, "path": "/ready", "group": "monitoring"},
    {"name": "NGINX", "kind": "http", "port": 80, "path": "/", "group": "edge"},
    {"name": "Backend API", "kind": "http", "port": 8000, "path": "/health", "group": "app"},
    {"name": "Frontend", "kind": "http", "port": 3000, "path": "/", "group": "app"},
]


@dataclass(frozen=True)
class Service:
    """A service probed on the Status tab."""

    name: str
    kind: str
    port: int
    host: str = "127.0.0.1"
    path: str = "/"
    timeout: float = 2.0
    group: str = ""
    expect_status: tuple[int, int] = (200, 399)
    keyword: str = ""

    @property
    def target(self) -> str:
        """Where the probe goes, as shown on the card."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.kind == "tcp":
            return f"tcp://{host}:{self.port}"
        path = self.path if self.path.startswith("/") else "/" + self.path
        return f"http://{host}:{self.port}{path}"


@dataclass(frozen=True)
class Upstream:
    """How to reach one HTTP upstream (Prometheus, Loki, Alertmanager)."""

    name: str
    url: str
    timeout: float
    cache_ttl: float
    bearer_token: str = ""
    username: str = ""
    password: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    tenant: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True)
class Config:
    """Resolved settings. Sections are attributes: ``config.refresh.status``."""

    source: str
    values: Mapping[str, Any]
    services: tuple[Service, ...]
    panels: tuple[SimpleNamespace, ...]
    log_queries: tuple[SimpleNamespace, ...]
    redact: tuple[SimpleNamespace, ...]

    def __getattr__(self, name: str) -> SimpleNamespace:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.section(name)

    def section(self, name: str) -> SimpleNamespace:
        """The settings of one TOML table, e.g. ``section("refresh").status``."""
        prefix = name + "."
        found = {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}
        if not found:
            raise AttributeError(name)
        return SimpleNamespace(**found)

    def upstream(self, name: str) -> Upstream:
        """The connection settings of ``prometheus``, ``loki`` or ``alertmanager``."""
        label = {"prometheus": "Prometheus", "loki": "Loki", "alertmanager": "Alertmanager"}
        sec = self.section(name)
        return Upstream(label[name], sec.url.rstrip("/"), float(sec.timeout),
                        float(sec.cache_ttl), sec.bearer_token, sec.username, sec.password,
                        dict(sec.headers), getattr(sec, "tenant", ""))

    @property
    def prometheus(self) -> Upstream:
        return self.upstream("prometheus")

    @property
    def loki(self) -> Upstream:
        return self.upstream("loki")

    @property
    def alertmanager(self) -> Upstream:
        return self.upstream("alertmanager")


def find_config_file(flag: str | None, env: Mapping[str, str], cwd: Path | None = None):
    """The file to read: --config, else $STACKSCOPE_CONFIG, else ./stackscope.toml if present."""
    if flag:
        return Path(flag)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = (cwd or Path.cwd()) / DEFAULT_FILE
    return local if local.is_file() else None


def load_config(path: str | None = None, env: Mapping[str, str] | None = None,
                flags: Mapping[str, Any] | None = None, cwd: Path | None = None) -> Config:
    """Resolve every setting as flag > environment > file > default."""
    env = os.environ if env is None else env
    file = find_config_file(path, env, cwd)
    source = str(file) if file else "built-in defaults"
    data = _read_toml(file) if file else {}
    values = _resolve_settings(data, env, flags or {}, source)
    tables = {name: _read_table(data, name, source) for name in TABLES}
    _check_unknown(data, source)
    services = tables["services"] if "services" in data else [
        _fill(raw, TABLES["services"]) for raw in DEFAULT_SERVICES]
    return Config(
        source=source,
        values=values,
        services=tuple(_service(s) for s in services),
        panels=tuple(SimpleNamespace(**p) for p in tables["panels"]),
        log_queries=tuple(SimpleNamespace(**q) for q in tables["log_queries"]),
        redact=tuple(SimpleNamespace(**r) for r in tables["redact"]),
    )


def _read_toml(file: Path) -> dict:
    try:
        with open(file, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(str(file), None, None, "file not found") from None
    except OSError as exc:
        raise ConfigError(str(file), None, None, f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), None, None, f"invalid TOML: {exc}") from None


def _lookup(data: Mapping, dotted: str):
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def _resolve_settings(data, env, flags, source) -> dict[str, Any]:
    values = {}
    for s in SETTINGS:
        if flags.get(s.key) is not None:
            values[s.key] = _validate(s.key, s.type, s.check, flags[s.key], "command line")
        elif s.env and env.get(s.env) not in (None, ""):
            raw = _coerce_env(s, env[s.env])
            values[s.key] = _validate(s.key, s.type, s.check, raw, f"environment {s.env}")
        elif (v := _lookup(data, s.key)) is not _MISSING:
            values[s.key] = _validate(s.key, s.type, s.check, v, source)
        else:
            values[s.key] = s.default
    return values


def _coerce_env(s: Setting, raw: str):
    kinds = s.type if isinstance(s.type, tuple) else (s.type,)
    if str in kinds:
        return raw
    for kind in (int, float):
        if kind in kinds:
            try:
                return kind(raw)
            except ValueError:
                continue
    return raw


def _validate(key, kinds, check, value, source):
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        want = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise ConfigError(source, key, value, f"must be {want}")
    problem = check(value) if check else None
    if problem:
        raise ConfigError(source, key, value, problem)
    return value


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", dict: "a table",
               list: "a list", bool: "true or false"}


def _read_table(data, name, source) -> list[dict]:
    rows = data.get(name, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ConfigError(source, name, rows, f"must be an array of tables ([[{name}]])")
    filled = []
    for i, raw in enumerate(rows):
        filled.append(_fill(raw, TABLES[name], source, f"{name}[{i}]"))
    if name == "services":
        _check_unique(filled, source)
    return filled


def _fill(raw, fields, source="built-in defaults", where="services") -> dict:
    known = {f.name for f in fields}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(source, f"{where}.{key}", value,
                              f"unknown key (known: {', '.join(sorted(known))})")
    out = {}
    for f in fields:
        if f.name in raw:
            out[f.name] = _validate(f"{where}.{f.name}", f.type, f.check, raw[f.name], source)
        elif f.required:
            raise ConfigError(source, f"{where}.{f.name}", None, "is required")
        else:
            out[f.name] = f.default
    return out


def _check_unique(services, source):
    seen = set()
    for i, s in enumerate(services):
        if s["name"] in seen:
            raise ConfigError(source, f"services[{i}].name", s["name"],
                              "duplicate name: service names must be unique")
        seen.add(s["name"])


def _check_unknown(data, source):
    sections = {k.split(".")[0] for k in SETTINGS_BY_KEY}
    for key, value in data.items():
        if key in TABLES:
            continue
        if key not in sections:
            raise ConfigError(source, key, value, "unknown section or key")
        if not isinstance(value, dict):
            raise ConfigError(source, key, value, f"must be a table ([{key}])")
        for sub, v in value.items():
            if f"{key}.{sub}" not in SETTINGS_BY_KEY:
                raise ConfigError(source, f"{key}.{sub}", v, "unknown key")


def _service(raw: dict) -> Service:
    raw = dict(raw, expect_status=tuple(raw["expect_status"]), timeout=float(raw["timeout"]))
    return Service(**raw)


def reference_markdown() -> str:
    """The README's configuration reference, generated from the tables above."""
    def fmt(value):
        if value is None:
            return "required"
        if isinstance(value, str) and value.startswith(os.path.expanduser("~")):
            return "`~" + value[len(os.path.expanduser("~")):] + "`"
        return f"`{value!r}`".replace("'", '"')

    lines = ["| key | default | environment | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        env = f"`{s.env}`" if s.env else ""
        lines.append(f"| `{s.key}` | {fmt(s.default)} | {env} | {s.help} |")
    for table, fields in TABLES.items():
        for f in fields:
            default = "required" if f.required else fmt(f.default)
            lines.append(f"| `{table}.{f.name}` | {default} | | {f.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown())
