"""Configuration: one table of settings, one precedence (flag > env > file > default).

Every setting has a name, a default and one line of help here; the README documents each one
(tests/test_config.py fails when it does not). A bad value stops start-up with one line naming
the file, the key and the value (``ConfigError``; exit code 2): wrong types, values out of
range, text with control characters, files that are not UTF-8 TOML. A secret's value is never
echoed, and any other value is shortened (``_shown``) so the message stays one short line.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import os
import re
import reprlib
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote, urlsplit

from query import maintenance as maint

CONFIG_ENV = "STACKSCOPE_CONFIG"
DEFAULT_FILE = "stackscope.toml"
#: A configuration this large is a wrong file (tomllib needs 11 s for 60 MB): refused unread.
MAX_FILE_BYTES = 1 << 20
#: dotted parts in one key (``a.b.c`` has 3), far beyond any real table
MAX_KEY_PARTS = 100
HOUR, DAY = 3600, 86400


class ConfigError(Exception):
    """A bad configuration file or value: says where, which key and what value, in one line."""

    def __init__(self, source: str, key: str | None, value: Any, problem: str):
        self.source, self.key, self.value, self.problem = source, key, value, problem
        where = f"{_clip(key)} = {_shown(value)}: " if key is not None else ""
        super().__init__(f"config error in {_clip(source, 400)}: {where}{_clip(problem)}")


class Hidden:
    """Stands for a secret's value in a message: what it is, never what it says."""

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        size = f"{len(self.value):,} characters" if isinstance(self.value, str) else (
            type(self.value).__name__)
        return f"<secret: {size}>"


class _Short(reprlib.Repr):
    """``repr`` cut to a line: long strings and lists elided, deep nesting as ``[...]``."""

    def __init__(self):
        super().__init__()
        self.maxstring = self.maxother = 80
        self.maxlevel = 3

    def repr_int(self, x, level):
        # repr() refuses integers of more than 4300 digits (ValueError), and TOML has no limit.
        if x.bit_length() > 256:
            return f"<integer of about {x.bit_length() * 0.30103:,.0f} digits>"
        return super().repr_int(x, level)


_short = _Short()


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, Hidden) else _short.repr(value)


def _clip(text: Any, limit: int = 200) -> str:
    """``text`` as one line of at most ``limit`` characters (escaped when it holds controls)."""
    text = str(text)
    head = text[:limit]
    if not head.isprintable():
        head = repr(head)[1:-1]
    return head if len(text) <= limit else f"{head}… ({len(text):,} characters)"


# --- checks: each returns an error text, or None when the value is fine -----------------------

def _between(low: float, high: float, unit: str = " seconds"):
    """A range check (NaN fails it: every comparison with NaN is false)."""
    text = f"must be between {_bound(low)} and {_bound(high)}{unit}"

    def check(v):
        return None if low <= v <= high else text
    return check


def _bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(v: str) -> str | None:
    """Line breaks and control characters (tab excepted) have no place in a one-line value."""
    found = _CONTROL.search(v)
    if found is None:
        return None
    return (f"must not contain line breaks or control characters "
            f"(found {found.group()!r} at position {found.start()})")


def _host(v):
    if not v.strip():
        return "must not be empty"
    if len(v) > 253:
        return f"must be at most 253 characters (DNS's limit), not {len(v):,}"
    if max(len(label) for label in v.split(".")) > 63:
        return "has a part longer than 63 characters (DNS's limit between dots)"
    if re.search(r"\s", v):
        return "must not contain spaces"
    return None


def _path(v):
    return "must not contain spaces (write %20)" if re.search(r"\s", v) else None


def _port(v):
    return None if 1 <= v <= 65535 else "must be a port number between 1 and 65535"


def _split_url(v: str):
    """(parts, None) for a URL without spaces that urlsplit reads, else (None, why)."""
    if re.search(r"\s", v):
        return None, "must not contain spaces"
    try:
        return urlsplit(v), None
    except ValueError as exc:
        return None, f"not a valid URL: {exc}"


def _url(v):
    if v == "":
        return None
    parts, why = _split_url(v)
    if why:
        return why
    if not v.startswith(("http://", "https://")):
        return "must be an http:// or https:// URL (or empty to disable)"
    if not parts.hostname:
        return "has no host (e.g. http://127.0.0.1:9090)"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "has a bad port: it must be between 1 and 65535"
    if len(parts.hostname) > 253:
        return "has a host name longer than 253 characters"
    if parts.query or parts.fragment:
        # API paths are appended to the base URL: a ?query or #fragment would swallow them.
        return "must not have a ?query or #fragment"
    return None


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


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _headers(v):
    for name, value in v.items():
        if not _TOKEN.fullmatch(name):
            return f"{_clip(repr(name), 80)} is not an HTTP header name (letters, digits, -)"
        if not isinstance(value, str):
            return f"header {name!r} must be a string"
        if problem := _one_line(value):
            # CR/LF in a value would let it smuggle a header (or a request) of its own.
            return f"header {name!r} {problem}"
    return None


def _pattern(v):
    problem = _regex(v)
    if problem is None and re.search(v, "") is not None:
        problem = "matches empty text, so the replacement would go between every character"
    return problem


def _nonempty(v):
    return None if v.strip() else "must not be empty"


def _finite(v):
    return None if math.isfinite(v) else "must be a finite number"


_COLOUR = re.compile(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|[a-zA-Z]{3,20}")


def _thresholds(v):
    if len(v) > 20:
        return f"at most 20 thresholds ({len(v)} given)"
    for item in v:
        value = item.get("value") if isinstance(item, dict) else item
        if isinstance(item, dict) and not set(item) <= {"value", "color"}:
            return f"a threshold table has only value and color (got {sorted(item)})"
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            return "each threshold is a finite number or a table {value = …, color = …}"
        colour = item.get("color", "#000") if isinstance(item, dict) else "#000"
        if not isinstance(colour, str) or not _COLOUR.fullmatch(colour):
            return f"threshold color {colour!r} is not #rgb, #rrggbb or a CSS colour name"
    return None


def _check_axis(panel: dict, source: str, where: str) -> None:
    """y_min below y_max; a log scale's limits and thresholds above zero."""
    lo, hi = panel["y_min"], panel["y_max"]
    if lo is not None and hi is not None and lo >= hi:
        raise ConfigError(source, f"{where}.y_max", hi, f"must be above y_min ({lo:g})")
    if panel["y_scale"] == "log":
        for key in ("y_min", "y_max"):
            if panel[key] is not None and panel[key] <= 0:
                raise ConfigError(source, f"{where}.{key}", panel[key],
                                  "must be above zero on a log scale (y_scale = \"log\")")


def _status_range(v):
    if (len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
            and 100 <= v[0] <= v[1] <= 599):
        return None
    return "must be [low, high] HTTP statuses with 100 <= low <= high <= 599"


def _parsed_by(parse):
    """A check from a parser raising ValueError; empty text is left to the entry's check."""
    def check(v):
        if v == "":
            return None
        try:
            parse(v)
        except ValueError as exc:
            return str(exc)
        return None
    return check


_iso_time = _parsed_by(maint.parse_time)
_cron = _parsed_by(maint.parse_cron)
_duration = _parsed_by(maint.parse_duration)


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


#: a live panel's answer is reused longer: see query/timerange.py, live_ttl
LIVE_TTL_NOTE = ("; a live panel's answer is reused for its whole step, and never less than "
                 "`refresh.metrics`")


def _upstream_settings(name: str, label: str, url: str, timeout: float, ttl: float,
                       max_mb: float, max_why: str) -> list:
    env = f"STACKSCOPE_{name.upper()}_"
    return [
        Setting(f"{name}.url", str, url,
                f"{label} base URL (http:// or https:// and a host); empty disables it",
                env + "URL", _url),
        Setting(f"{name}.timeout", (int, float), timeout,
                f"seconds one call to {label} may take in all: connect, headers and body, "
                "0.01 to 3600 (keep it below the server's own timeout)",
                check=_between(0.01, HOUR)),
        Setting(f"{name}.max_response_mb", (int, float), max_mb,
                f"largest answer read from {label}, in MiB, 0.01 to 65536; a bigger one is an "
                f"error (default: {max_why})", check=_between(0.01, 65536, " MiB")),
        Setting(f"{name}.cache_ttl", (int, float), ttl,
                f"seconds an answer from {label} is reused before asking again, 0.01 to 86400"
                + (LIVE_TTL_NOTE if name == "prometheus" else ""), check=_between(0.01, DAY)),
        Setting(f"{name}.bearer_token", str, "", f"bearer token sent to {label}",
                env + "BEARER_TOKEN", secret=True),
        Setting(f"{name}.username", str, "", f"basic-auth user for {label}", env + "USERNAME"),
        Setting(f"{name}.password", str, "", f"basic-auth password for {label}",
                env + "PASSWORD", secret=True),
        Setting(f"{name}.headers", dict, {},
                f"extra HTTP headers sent to {label} (a table; no line breaks in values)",
                check=_headers, secret=True),
    ]


# Ranges: wide enough for any real stack, narrow enough that no value can stall a thread
# (Event.wait(1e300) raises OverflowError) or spin one (a 1e-300 s refresh is a busy loop).
SETTINGS: list[Setting] = [
    Setting("server.host", str, "127.0.0.1",
            "address the dashboard listens on (0.0.0.0: every IPv4 address)", check=_host),
    Setting("server.port", int, 8050,
            "port the dashboard listens on; serving stops with exit code 2 if it is taken",
            check=_port),
    Setting("server.max_request_mb", (int, float), 16,
            "largest request body the dashboard accepts, in MiB, 0.01 to 4096 (a bigger one "
            "gets HTTP 413)", check=_between(0.01, 4096, " MiB")),
    # A browser keeps up to 6 connections to the dashboard: waitress' default limit of 100
    # open connections stalls the 17th viewer until an idle one times out (see bench/viewers).
    Setting("server.connection_limit", int, 1000,
            "open connections the dashboard keeps (a browser holds up to 6); past it new ones "
            "wait, 10 to 100000 (gunicorn: per worker)", check=_between(10, 100_000, "")),
    Setting("server.threads", int, 16,
            "threads answering requests, 1 to 256 (gunicorn: per worker)",
            check=_between(1, 256, "")),
    Setting("server.channel_timeout", int, 60,
            "seconds an idle connection is kept open before the dashboard closes it, 1 to "
            "86400 (gunicorn: keepalive)", check=_between(1, DAY)),
    Setting("refresh.status", (int, float), 3,
            "seconds between Status tab refreshes and background probe rounds, 0.5 to 86400",
            check=_between(0.5, DAY)),
    Setting("refresh.metrics", (int, float), 5,
            "seconds between live Metrics refreshes, 0.5 to 86400", check=_between(0.5, DAY)),
    Setting("refresh.logs", (int, float), 10,
            "seconds between live Logs refreshes, 0.5 to 86400", check=_between(0.5, DAY)),
    Setting("cache.dir", str, _default_cache_dir(),
            "directory of the disk cache, probe history and export files; created if missing, "
            "must be writable", "STACKSCOPE_CACHE_DIR", check=_nonempty),
    Setting("cache.status_ttl", (int, float), 2,
            "seconds a probe round is reused (throttles the background prober and "
            "Refresh now; browsers read the prober's latest round), 0.01 to 86400",
            check=_between(0.01, DAY)),
    Setting("cache.backoff_max", (int, float), 30,
            "longest wait, in seconds, before retrying an upstream that keeps failing, "
            "0.01 to 86400", check=_between(0.01, DAY)),
    # Prometheus: 11 000 points (its limit per series) x 100 series (the most a panel draws)
    # at about 30 bytes a point in JSON is 33 MB; Loki: 5 000 entries (its default
    # max_entries_limit_per_query) at up to ~12 KB each with their labels.
    *_upstream_settings("prometheus", "Prometheus", "http://127.0.0.1:9090", 10, 4, 64,
                        "11 000 points x 100 series, with room"),
    *_upstream_settings("loki", "Loki", "http://127.0.0.1:3100", 15, 8, 64,
                        "5 000 entries of up to ~12 KB"),
    Setting("loki.tenant", str, "", "Loki tenant, sent as the X-Scope-OrgID header",
            "STACKSCOPE_LOKI_TENANT"),
    *_upstream_settings("alertmanager", "Alertmanager", "", 5, 4, 16,
                        "some 8 000 alerts of 2 KB"),
    Setting("alertmanager.notify", bool, True,
            "post a StackscopeServiceDown alert to Alertmanager when a probed service goes "
            "down, resolved when it is back (only when `alertmanager.url` is set)"),
    Setting("alertmanager.notify_interval", (int, float), 60,
            "seconds between re-posts of a down service's alert, 1 to 3600; each post is "
            "valid for 4 intervals, so Alertmanager resolves it by itself if stackscope stops",
            check=_between(1, HOUR)),
    Setting("metrics.max_data_points", int, 1000,
            "points per series asked for when the panel width is unknown, 1 to 11000 "
            "(Prometheus' limit)", check=_between(1, 11_000, "")),
    Setting("metrics.min_step", (int, float), 1,
            "smallest query step in seconds, 0.001 to 86400", check=_between(0.001, DAY)),
    Setting("metrics.scrape_interval", (int, float), 15,
            "Prometheus scrape interval in seconds (for rate windows), 0.001 to 86400",
            check=_between(0.001, DAY)),
    Setting("metrics.band_days", int, 7,
            "past days whose same time of day gives a point's expected band (Compare: "
            "Expected band), 4 to 56", check=_between(4, 56, "")),
    Setting("metrics.band_mads", (int, float), 4,
            "half-width of the expected band in scaled median absolute deviations, 1 to 20",
            check=_between(1, 20, "")),
    Setting("metrics.band_min_points", int, 2,
            "neighbouring points outside the band that make an anomaly, 1 to 100",
            check=_between(1, 100, "")),
    Setting("logs.limit", int, 1000,
            "default number of log lines shown, 1 to 5000 (Loki's default maximum)",
            check=_between(1, 5000, "")),
]

# --- limits the server owns, exports, the cache's size (issue 9, hardening) ------------------
# What the browser sends is an intent: the server clamps it to these, or refuses it. Bounded
# like the settings above, so no value can overflow a wait or turn a limit off.
YEAR = 366 * DAY
SETTINGS += [
    Setting("logs.max_limit", int, 5000,
            "most log lines one query may ask Loki for, 1 to 1000000 (keep it at or under "
            "Loki's max_entries_limit_per_query)", check=_between(1, 1_000_000, "")),
    Setting("logs.max_range", (int, float), 30 * DAY,
            "longest time range, in seconds, a Logs query or export may cover, 1 to 3162240000 "
            "(100 years)", check=_between(1, 100 * YEAR)),
    Setting("metrics.max_range", (int, float), YEAR,
            "longest time range, in seconds, a Metrics panel may cover, 1 to 3162240000",
            check=_between(1, 100 * YEAR)),
    Setting("metrics.max_points", int, 4000,
            "most points per series a panel asks for, whatever width the browser reports, "
            "1 to 11000 (Prometheus' limit)", check=_between(1, 11_000, "")),
    Setting("limits.force_interval", (int, float), 5,
            "seconds a browser session waits between forced refreshes (Refresh now, Run "
            "query again), 0.1 to 3600", check=_between(0.1, HOUR)),
    Setting("limits.queries_per_minute", int, 60,
            "typed queries (the Metrics tab's own query, Logs tab runs) one browser session "
            "may send per minute, 1 to 100000", check=_between(1, 100_000, "")),
    Setting("exports.max_running", int, 2,
            "log exports running at once, across processes, 1 to 64; more wait in a queue",
            check=_between(1, 64, "")),
    Setting("exports.max_queued", int, 8, "log exports that may wait in the queue, 1 to "
            "1000; more are refused", check=_between(1, 1000, "")),
    Setting("exports.keep", (int, float), 900,
            "seconds a finished export file waits for its download before it is deleted, "
            "1 to 604800", check=_between(1, 7 * DAY)),
    Setting("cache.size_limit", int, 256 * 2**20,
            "bytes the disk cache may hold, 1 MiB to 1 TiB; past it the oldest entries are "
            "evicted", check=_between(2**20, 2**40, " bytes")),
    Setting("server.compress", bool, True,
            "compress answers over 1 KiB (zstd, brotli or gzip, as the browser accepts); "
            "false when a proxy in front compresses"),
]

# --- who may see the dashboard (issue 14, access) --------------------------------------------
#: the roles of access.RIGHTS, lowest first (access imports flask lazily; config stays light)
ROLES = ("viewer", "operator", "admin")


def _cidrs(v):
    import ipaddress

    for i, item in enumerate(v):
        if not isinstance(item, str):
            return f"entry {i} must be a string such as \"127.0.0.1/32\""
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            return f"entry {i} ({_clip(repr(item), 60)}) is not an address or CIDR: {exc}"
    return None


def _group_roles(v):
    for group, role in v.items():
        if role not in ROLES:
            return (f"group {_clip(repr(group), 60)} maps to {_clip(repr(role), 40)}: a role must "
                    f"be one of {', '.join(map(repr, ROLES))}")
    return None


def _header_name(v):
    return None if _TOKEN.fullmatch(v) else "must be an HTTP header name (letters, digits, -)"


def _header_name_or_empty(v):
    return None if v == "" else _header_name(v)


SETTINGS += [
    Setting("server.allow_anonymous", bool, False,
            "serve with `auth.mode = \"none\"` on an address other than loopback (everyone "
            "who can reach it is admin; a warning is logged)"),
    Setting("auth.mode", str, "none",
            '"none" (everyone is admin; loopback only), "basic" (HTTP Basic against '
            '`auth.users`) or "proxy" (a user header from `auth.trusted_proxies`)',
            check=_one_of("none", "basic", "proxy")),
    Setting("auth.users", list, [],
            "basic mode's users, an array of tables (`[[auth.users]]`) with `name`, "
            "`password_hash` and `role`", secret=True),
    Setting("auth.proxy_header", str, "X-Forwarded-User",
            "proxy mode: the header naming the signed-in user", check=_header_name),
    Setting("auth.groups_header", str, "X-Forwarded-Groups",
            "proxy mode: the header listing the user's groups, comma-separated (\"\": none)",
            check=_header_name_or_empty),
    Setting("auth.trusted_proxies", list, [],
            "proxy mode: addresses or CIDRs whose requests' user header is believed (the "
            "connection's own peer address, never X-Forwarded-For)", check=_cidrs),
    Setting("auth.group_roles", dict, {},
            "proxy mode: a table of group = role; a user gets the highest role of their groups",
            check=_group_roles),
    Setting("auth.default_role", str, "viewer",
            "proxy mode: the role of a user none of whose groups is mapped (\"\": refused)",
            check=_one_of("", *ROLES)),
    Setting("auth.audit_max_mb", (int, float), 10,
            "size at which `<cache.dir>/audit.log` is rotated to `audit.log.1`, in MiB, "
            "0.01 to 4096", check=_between(0.01, 4096, " MiB")),
]


# --- the shared cache (issue 15: several replicas) ---------------------------------------------


def _redis_url(v):
    if v == "":
        return None
    parts, why = _split_url(v)
    if why:
        return why
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return "must be a redis://, rediss:// or unix:// URL (or empty for the disk cache)"
    if parts.scheme != "unix" and not parts.hostname:
        return "has no host (e.g. redis://127.0.0.1:6379/0)"
    if parts.scheme != "unix" and parts.path not in ("", "/") and not re.fullmatch(
            r"/\d{1,5}", parts.path):
        return "must end in a database number, e.g. /0"
    return None


def _prefix(v):
    return _one_line(v) or (None if len(v) <= 200 else "must be at most 200 characters")


SETTINGS += [
    Setting("cache.url", str, "",
            "Redis shared by every replica for the cache, single flight, backoff, probe "
            "lease and probe history (redis://host:port/db, rediss:// for TLS, a password as "
            "redis://:PASSWORD@host); empty: the disk cache in `cache.dir`",
            "STACKSCOPE_CACHE_URL", _redis_url, secret=True),
    Setting("cache.prefix", str, "stackscope:",
            "prefix of every key this dashboard writes to the shared cache", check=_prefix),
    Setting("cache.secret", str, "",
            "key signing the values written to the shared cache (default: the URL's "
            "password); a value not signed with it is never unpickled",
            "STACKSCOPE_CACHE_SECRET", secret=True),
    Setting("cache.timeout", (int, float), 0.5,
            "seconds one shared-cache operation may take (connect or reply), 0.01 to 10; past "
            "it calls go straight to the upstreams", check=_between(0.01, 10)),
]


# --- running several replicas: own metrics and logs, exports on Celery (issue 15) ---------


def _broker(v):
    if v == "":
        return None
    if not v.startswith(("redis://", "rediss://")):
        return "must be a redis:// or rediss:// URL (or empty: exports run in this server)"
    return _url("http://" + v.split("://", 1)[1])


SETTINGS += [
    Setting("server.metrics_token", str, "",
            "bearer token a scraper sends to read /metrics (Authorization: Bearer …); empty: "
            "/metrics is open to whoever may reach the dashboard", "STACKSCOPE_METRICS_TOKEN",
            secret=True),
    Setting("log.format", str, "text",
            '"text" (one readable line per record) or "json" (one JSON object per line, with '
            "the request path, callback and session when known)", "STACKSCOPE_LOG_FORMAT",
            _one_of("text", "json")),
    Setting("exports.broker", str, "",
            "Redis URL (redis:// or rediss://) of the Celery broker that runs Logs tab exports "
            "on `celery -A app.celery_app worker` processes; empty: they run in this server",
            "STACKSCOPE_EXPORTS_BROKER", _broker, secret=True),
    Setting("exports.dir", str, "",
            "directory export files are written to and downloaded from; empty: "
            "<cache.dir>/exports (with Celery workers on other hosts: a volume all of them "
            "share)", "STACKSCOPE_EXPORTS_DIR"),
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
    #: free text that may span lines (queries, patterns); any other text must be one line
    multiline: bool = False
    #: a value no message may show (an action's headers carry tokens)
    secret: bool = False

# --- [[actions]]: remediation webhooks (issue 14) ---------------------------------------------
#: access.ROLES, least first (config imports nothing of ours; tests/test_actions_config.py
#: keeps the two equal)
ACTION_ROLES = ("viewer", "operator", "admin")
#: the browser waits for an action's answer, holding one of the server's threads that long
ACTION_MAX_TIMEOUT = 120
#: what a placeholder of an action's url or body stands for (see ``fill``)
PLACEHOLDERS = ("service", "host", "port", "group", "action", "user", "role")
_ALIASES = {"service.name": "service", "service.host": "host", "service.port": "port",
            "service.group": "group"}
#: ``{word}`` or ``{word.word}``: JSON's own braces never look like this (its keys are quoted)
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")
#: sample values a template is checked with at start-up
_SAMPLE = {"service": "svc", "host": "127.0.0.1", "port": 1, "group": "g", "action": "a",
           "user": "u", "role": "operator"}


def fill(template: str, values: Mapping[str, Any], escape: Callable[[str], str] = str) -> str:
    """``template`` with each placeholder replaced by ``escape(str(value))``; other text as is.

    A fixed set of names looked up in a dict: no attribute access, no format spec, so a
    template can never reach into an object (unlike ``str.format``).
    """
    def one(match):
        name = _ALIASES.get(match.group(1), match.group(1))
        return escape(str(values[name])) if name in values else match.group(0)
    return PLACEHOLDER.sub(one, template)


def _unknown_placeholder(text: str) -> str | None:
    for match in PLACEHOLDER.finditer(text):
        if _ALIASES.get(match.group(1), match.group(1)) not in PLACEHOLDERS:
            known = " ".join("{" + p + "}" for p in PLACEHOLDERS)
            return f"unknown placeholder {match.group(0)} (known: {known})"
    return None


def is_json_body(body: str) -> bool:
    """Whether an action's body is JSON (starts with { or [): sent as application/json."""
    return body.lstrip().startswith(("{", "["))


def json_escape(text: str) -> str:
    """``text`` as the inside of a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _template(v: str) -> str | None:
    problem = _unknown_placeholder(v)
    if problem or not is_json_body(v):
        return problem
    try:
        json.loads(fill(v, _SAMPLE, json_escape))
    except ValueError as exc:
        return (f"starts like JSON but is not JSON once filled in ({exc}); put text "
                'placeholders in quotes: "{service}"')
    return None


def _action_url(v: str) -> str | None:
    if problem := _unknown_placeholder(v):
        return problem
    filled = fill(v, _SAMPLE)
    if not filled:
        return "must not be empty"
    if problem := _url(filled.split("?", 1)[0]):
        return problem
    return None


def _names(v) -> str | None:
    names = [v] if isinstance(v, str) else v
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        return "must be a service name or a non-empty list of them"
    return None


TABLES: dict[str, list[Field]] = {
    "services": [
        Field("name", str, None, "unique display name", required=True),
        Field("kind", str, None, '"tcp" (connect), "http" (GET) or "https" (GET over TLS)',
              required=True, check=_one_of("tcp", "http", "https")),
        Field("host", str, "127.0.0.1",
              "host to probe (one that does not resolve is shown down, not a config error)",
              check=_host),
        Field("port", int, None, "port to probe", required=True, check=_port),
        Field("path", str, "/", "HTTP path to GET (http only)", check=_path),
        Field("timeout", (int, float), 2.0,
              "seconds the whole probe may take (connect, headers, keyword read), 0.01 to 3600",
              check=_between(0.01, HOUR)),
        Field("group", str, "", "cards with the same group are shown together"),
        Field("expect_status", list, [200, 399], "inclusive range of accepted HTTP statuses",
              check=_status_range),
        Field("keyword", str, "", "text the HTTP body must contain"),
        Field("retries", int, 1,
              "failed probes in a row shown Pending before the service is Offline, 0 to 100 "
              "(0: Offline at the first failure)", check=_between(0, 100, "")),
        Field("tls_verify", bool, True,
              "https only: check the certificate (chain, host name, dates); false still "
              "reports its expiry"),
        Field("tls_warn_days", (int, float), 14,
              "https only: a certificate expiring within this many days shows Degraded, "
              "0 to 3650", check=_between(0, 3650, " days")),
        Field("tls_ca_file", str, "",
              "https only: PEM file of the CA(s) to trust instead of the system's (an internal "
              "CA); empty: the system's"),
        Field("severity", str, "critical",
              "severity label of the alert posted to Alertmanager when the service is down"),
    ],
    "maintenance": [
        Field("service", str, "*", 'the service\'s name, or "*" for every service',
              check=_nonempty),
        Field("start", (str, datetime.datetime), "",
              "start of a one-off window, ISO 8601 (no offset: UTC); with `end`",
              check=_iso_time),
        Field("end", (str, datetime.datetime), "", "end of a one-off window, ISO 8601",
              check=_iso_time),
        Field("cron", str, "",
              'a recurring window\'s start, 5 cron fields in UTC ("0 3 * * sun": Sundays '
              "03:00); with `duration`", check=_cron),
        Field("duration", str, "", 'how long a recurring window lasts: "90m", "2h", "1h30m", '
              "1 minute to 7 days", check=_duration),
        Field("reason", str, "", "shown on the card during the window"),
    ],
    "panels": [
        Field("title", str, None, "panel title", required=True),
        Field("query", str, None, "PromQL expression", required=True, multiline=True),
        Field("unit", str, "", 'axis unit, e.g. "req/s", "s", "bytes", "%"'),
        Field("legend", str, "", 'legend format, e.g. "{{instance}}" (empty: full series name)'),
        Field("group", str, "", "section the panel is shown in"),
        Field("kind", str, "lines", '"lines" or "heatmap" (a histogram: native, or classic '
              '_bucket series with le)', check=_one_of("lines", "heatmap")),
        Field("quantiles", bool, False, "heatmap only: draw p50/p95/p99 over the buckets"),
        Field("exemplars", bool, False,
              "show the query's exemplars as points (Prometheus with exemplar storage); a "
              "click opens Logs on the request"),
        Field("y_scale", str, "linear", '"linear" or "log" (a log axis leaves out values at '
              "or under zero)", check=_one_of("linear", "log")),
        Field("y_min", (int, float), None, "fixed lower end of the y axis (none: fitted to "
              "the data, from zero)", check=_finite),
        Field("y_max", (int, float), None, "fixed upper end of the y axis (none: fitted to "
              "the data)", check=_finite),
        Field("thresholds", list, [], "horizontal dashed lines: numbers, or tables "
              '{value = 0.9, color = "#fd7e14"} (colour: #rgb, #rrggbb or a CSS name; red '
              "when not given); at most 20", check=_thresholds),
    ],
    "annotations": [
        Field("name", str, None, "label on the chart and in the Annotations menu",
              required=True),
        Field("expr", str, None,
              "PromQL expression: a region (or a line) wherever it has a non-zero value",
              required=True, multiline=True),
        Field("style", str, "region", '"region" (shaded) or "line" (at each point)',
              check=_one_of("region", "line")),
    ],
    "log_queries": [
        Field("name", str, None, "label in the predefined-query menu", required=True),
        Field("query", str, None, "LogQL expression", required=True, multiline=True),
    ],
    "redact": [
        Field("pattern", str, None,
              "regular expression to hide in log lines and exports (must not match empty text)",
              required=True, check=_pattern, multiline=True),
        Field("replacement", str, "[REDACTED]", "text put in its place", multiline=True),
    ],
    # Remediation webhooks (issue 14): see ACTION_* below and datasources/actions.py.
    "actions": [
        Field("name", str, None, "button label, unique among actions", required=True),
        Field("services", (str, list), None,
              "name (or list of names) of the [[services]] whose cards offer it", required=True,
              check=_names),
        Field("url", str, None,
              "http:// or https:// webhook to call; placeholders allowed in the path and query "
              "(filled in percent-encoded)", required=True, check=_action_url),
        Field("method", str, "POST", '"GET", "POST", "PUT" or "DELETE"',
              check=_one_of("GET", "POST", "PUT", "DELETE")),
        Field("body", str, "",
              "request body with placeholders {service} {host} {port} {group} {action} {user} "
              "{role} (also {service.name} …); a body starting with { or [ is JSON: sent as "
              "application/json, values JSON-escaped, checked at start-up", multiline=True,
              check=_template),
        Field("headers", dict, {},
              "HTTP headers sent with it (a table; e.g. a bearer token): never shown in the "
              "browser nor written to the audit log", check=_headers, secret=True),
        Field("role", str, "operator",
              'least role that may run it: "viewer", "operator" or "admin" (running also '
              'needs the "action" right)', check=_one_of(*ACTION_ROLES)),
        Field("confirm", str, "", 'question shown before it runs (empty: "Run <name> on '
              '<service>?")'),
        Field("timeout", (int, float), 10,
              f"seconds the whole call may take, 0.1 to {ACTION_MAX_TIMEOUT} (the browser "
              "waits for it)", check=_between(0.1, ACTION_MAX_TIMEOUT)),
    ],
}

# What `make run` (stack/run.py) starts, on its default ports: `check` with no configuration
# answers "is the demo stack healthy?" (tests/test_app.py compares the two). The demo has no
# frontend, and Promtail only when Loki is installed, so neither is probed by default.
DEFAULT_SERVICES = [
    {"name": "Redis", "kind": "tcp", "port": 6379, "group": "data"},
    {"name": "NGINX", "kind": "http", "port": 8080, "path": "/", "group": "edge"},
    {"name": "Backend API", "kind": "http", "port": 8000, "path": "/health", "group": "app"},
    {"name": "Prometheus", "kind": "http", "port": 9090, "path": "/-/ready",
     "group": "monitoring"},
    {"name": "Alertmanager", "kind": "http", "port": 9093, "path": "/-/ready",
     "group": "monitoring"},
    {"name": "node_exporter", "kind": "http", "port": 9100, "path": "/metrics",
     "group": "monitoring"},
    {"name": "Loki", "kind": "http", "port": 3100, "path": "/ready", "group": "monitoring"},
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
    #: failed probes in a row shown "pending" before the service is "down"
    retries: int = 1
    tls_verify: bool = True
    tls_warn_days: float = 14.0
    tls_ca_file: str = ""
    severity: str = "critical"

    @property
    def target(self) -> str:
        """Where the probe goes, as shown on the card."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.kind == "tcp":
            return f"tcp://{host}:{self.port}"
        path = self.path if self.path.startswith("/") else "/" + self.path
        return f"{self.kind}://{host}:{self.port}{path}"


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
    max_response_bytes: int = 64 << 20

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured value no message may show: token, passwords, headers, tenant."""
        url = urlsplit(self.url)
        found = [self.bearer_token, self.password, self.tenant, *self.headers.values()]
        if self.username or self.password:
            found.append(_basic(self.username, self.password))
        if url.password:
            user, password = unquote(url.username or ""), unquote(url.password)
            found += [url.password, password, _basic(user, password)]
        return tuple(s for s in found if s)


@dataclass(frozen=True)
class Action:
    """A webhook a service's card offers (``[[actions]]``): restart, scale, …"""

    name: str
    services: tuple[str, ...]
    url: str
    method: str = "POST"
    body: str = ""
    #: may carry tokens: kept out of repr, so a logged Action never shows them
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    role: str = "operator"
    confirm: str = ""
    timeout: float = 10.0

    def question(self, service: str) -> str:
        """What the confirmation asks."""
        return self.confirm or f"Run {self.name} on {service}?"


def _basic(user: str, password: str) -> str:
    # What an "Authorization: Basic …" echo shows.
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Config:
    """Resolved settings. Sections are attributes: ``config.refresh.status``."""

    source: str
    values: Mapping[str, Any]
    services: tuple[Service, ...]
    panels: tuple[SimpleNamespace, ...]
    annotations: tuple[SimpleNamespace, ...]
    log_queries: tuple[SimpleNamespace, ...]
    redact: tuple[SimpleNamespace, ...]
    #: where each setting's value came from, for errors found after loading (see ``origin``)
    origins: Mapping[str, str] = field(default_factory=dict)
    actions: tuple[Action, ...] = ()
    #: ``[[maintenance]]`` windows (query/maintenance.py)
    maintenance: tuple[maint.Window, ...] = ()

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

    def actions_for(self, service: str) -> tuple[Action, ...]:
        """The actions the card of ``service`` offers, in configuration order."""
        return tuple(a for a in self.actions if service in a.services)

    def action(self, name: str, service: str) -> Action | None:
        """The action ``name`` if it is configured for ``service``, else None."""
        return next((a for a in self.actions_for(service) if a.name == name), None)

    def origin(self, key: str) -> str:
        """Where ``key``'s value came from: the file, ``environment X``, ``command line``…"""
        return self.origins.get(key, self.source)

    def upstream(self, name: str) -> Upstream:
        """The connection settings of ``prometheus``, ``loki`` or ``alertmanager``."""
        label = {"prometheus": "Prometheus", "loki": "Loki", "alertmanager": "Alertmanager"}
        sec = self.section(name)
        return Upstream(label[name], sec.url.rstrip("/"), float(sec.timeout),
                        float(sec.cache_ttl), sec.bearer_token, sec.username, sec.password,
                        dict(sec.headers), getattr(sec, "tenant", ""),
                        int(sec.max_response_mb * (1 << 20)))

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
    values, origins = _resolve_settings(data, env, flags or {}, source)
    _check_credentials(values, origins)
    _check_auth(values, origins)
    tables = {name: _read_table(data, name, source) for name in TABLES}
    _check_unknown(data, source)
    services = tables["services"] if "services" in data else [
        _fill(raw, TABLES["services"]) for raw in DEFAULT_SERVICES]
    services = tuple(_service(s, source, i) for i, s in enumerate(services))
    return Config(
        source=source,
        values=values,
        services=services,
        panels=tuple(SimpleNamespace(**p) for p in tables["panels"]),
        annotations=tuple(SimpleNamespace(**a) for a in tables["annotations"]),
        log_queries=tuple(SimpleNamespace(**q) for q in tables["log_queries"]),
        redact=tuple(SimpleNamespace(**r) for r in tables["redact"]),
        origins=origins,
        actions=_actions(tables["actions"], {s.name for s in services}, source),
        maintenance=_windows(tables["maintenance"], {s.name for s in services}, source),
    )


def check_cache_dir(config: Config) -> Path:
    """Create ``cache.dir`` (and ``exports.dir`` when set) if missing and prove them writable;
    ConfigError naming the key if not.

    Serving needs it (probe history, background jobs, exports): found here, it is one line at
    start-up instead of a traceback from the first writer.
    """
    if config.exports.dir:
        _writable_dir(config, "exports.dir")
    return _writable_dir(config, "cache.dir")


def _writable_dir(config: Config, key: str) -> Path:
    value = config.values[key]
    path, origin = Path(value), config.origin(key)
    if path.exists() and not path.is_dir():
        raise ConfigError(origin, key, value, "exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(origin, key, value, f"cannot create it: {exc.strerror or exc}") from None
    try:
        # A real file, not os.access: root passes access() even on read-only mounts and /proc.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(origin, key, value,
                          f"cannot write a file in it: {exc.strerror or exc}") from None
    return path


#: descriptors a serving process needs besides its clients' connections: listeners, the disk
#: cache and probe history, upstream and probe sockets, logs
SPARE_FILES = 200


def check_file_limit(config: Config) -> int:
    """Raise this process's open-file limit to hold ``server.connection_limit``; the limit.

    Each connection is a file descriptor: under a soft limit of 1024 (a common default),
    1000 connections would end in "Too many open files" at accept time. The soft limit is
    raised up to the hard one; a hard limit too low is a ConfigError naming the key.
    """
    import resource

    need = config.server.connection_limit + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        raise ConfigError(config.origin("server.connection_limit"), "server.connection_limit",
                          config.server.connection_limit,
                          f"needs {need} open files and this process may have {hard} "
                          f"(ulimit -Hn); lower it or raise the limit")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


def _read_toml(file: Path) -> dict:
    source = str(file)
    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(source, None, None, "file not found") from None
    except OSError as exc:
        raise ConfigError(source, None, None, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(source, None, None,
                          f"larger than {MAX_FILE_BYTES >> 20} MiB: not a configuration file")
    try:
        # utf-8-sig: a byte-order mark (Windows editors add one) is not an error.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(source, None, None, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} "
                                              f"on line {line}") from None
    _check_key_depth(text, source)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, None, None, f"invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(source, None, None, "invalid TOML: nested too deeply") from None
    except ValueError:  # Python's int() refuses more than 4300 digits; TOML has no limit
        raise ConfigError(source, None, None,
                          "invalid TOML: an integer of more than 4300 digits") from None


def _check_key_depth(text: str, source: str) -> None:
    # tomllib takes quadratic time in a key's dotted parts (8 000 parts: 2 s; 50 000: a
    # minute and more), so a file of absurd keys is refused before it is parsed.
    for number, line in enumerate(text.splitlines(), 1):
        if line.split("=", 1)[0].count(".") > MAX_KEY_PARTS:
            raise ConfigError(source, None, None, f"invalid TOML: nested too deeply (a key of "
                                                  f"more than {MAX_KEY_PARTS} parts on line "
                                                  f"{number})")


def _lookup(data: Mapping, dotted: str):
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def _resolve_settings(data, env, flags, source) -> tuple[dict[str, Any], dict[str, str]]:
    values, origins = {}, {}
    for s in SETTINGS:
        if flags.get(s.key) is not None:
            origin, value = "command line", flags[s.key]
        elif s.env and env.get(s.env) not in (None, ""):
            origin, value = f"environment {s.env}", _coerce_env(s, env[s.env])
        elif (v := _lookup(data, s.key)) is not _MISSING:
            origin, value = source, v
        else:
            values[s.key], origins[s.key] = s.default, "built-in defaults"
            continue
        values[s.key], origins[s.key] = _validate(s, s.key, value, origin), origin
    return values, origins


def _check_credentials(values, origins) -> None:
    """A URL with ``user:password@`` and a token or basic auth too: refuse, naming both keys.

    requests would silently send one and drop the other (the URL's user-info replaces a bearer
    token; a configured username replaces the URL's), so neither is allowed to win quietly.
    """
    for name in ("prometheus", "loki", "alertmanager"):
        url = values[f"{name}.url"]
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            continue
        others = [k for k in ("bearer_token", "username", "password") if values[f"{name}.{k}"]]
        if others:
            keys = " and ".join(f"{name}.{k}" for k in others)
            shown = url.replace(parts.netloc, "[redacted]@" + parts.netloc.rsplit("@", 1)[-1])
            raise ConfigError(origins[f"{name}.url"], f"{name}.url", shown,
                              f"has user-info and {keys} is set too; keep one way to log in")


USER_KEYS = ("name", "password_hash", "role")


def _check_auth(values, origins) -> None:
    """Each ``[[auth.users]]`` entry complete and sound; a mode that has what it needs."""
    seen = set()
    for i, user in enumerate(values["auth.users"]):
        where, origin = f"auth.users[{i}]", origins["auth.users"]
        if not isinstance(user, dict):
            raise ConfigError(origin, where, Hidden(user), "must be a table ([[auth.users]])")
        for key in user.keys() - set(USER_KEYS):
            raise ConfigError(origin, f"{where}.{key}", user[key],
                              f"unknown key (known: {', '.join(USER_KEYS)})")
        for key in USER_KEYS:
            value = user.get(key)
            shown = Hidden(value) if key == "password_hash" else value
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(origin, f"{where}.{key}", shown, "is required (a string)")
            if problem := _one_line(value):
                raise ConfigError(origin, f"{where}.{key}", shown, problem)
        if ":" in user["name"] or user["name"] in seen:
            raise ConfigError(origin, f"{where}.name", user["name"],
                              "must be unique and hold no colon (HTTP Basic splits on it)")
        seen.add(user["name"])
        if not _is_password_hash(user["password_hash"]):
            raise ConfigError(origin, f"{where}.password_hash", Hidden(user["password_hash"]),
                              "is not a hash from `python app.py hash-password`")
        if user["role"] not in ROLES:
            raise ConfigError(origin, f"{where}.role", user["role"],
                              f"must be one of {', '.join(map(repr, ROLES))}")
    mode = values["auth.mode"]
    if mode == "basic" and not values["auth.users"]:
        raise ConfigError(origins["auth.mode"], "auth.mode", mode,
                          "needs at least one [[auth.users]] entry")
    if mode == "proxy" and not values["auth.trusted_proxies"]:
        raise ConfigError(origins["auth.mode"], "auth.mode", mode,
                          "needs auth.trusted_proxies: the proxy's address, so no one else "
                          "can send the user header")


def _is_password_hash(text: str) -> bool:
    # werkzeug.security's format: "method:params$salt$hex digest"
    method, _, rest = text.partition(":")
    return method in ("scrypt", "pbkdf2") and rest.count("$") == 2


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


def _validate(spec: Setting | Field, key: str, value, source: str):
    """``value`` if it suits ``spec`` (type, one line unless multiline, its check), else raise."""
    kinds = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    shown = Hidden(value) if getattr(spec, "secret", False) else value
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        want = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise ConfigError(source, key, shown, f"must be {want}")
    problem = None
    if isinstance(value, str) and not getattr(spec, "multiline", False):
        problem = _one_line(value)
    if problem is None and spec.check:
        problem = spec.check(value)
    if problem:
        raise ConfigError(source, key, shown, problem)
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
    if name == "panels":
        for i, panel in enumerate(filled):
            _check_axis(panel, source, f"panels[{i}]")
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
            out[f.name] = _validate(f, f"{where}.{f.name}", raw[f.name], source)
            if f.required and isinstance(out[f.name], str) and not out[f.name].strip():
                raise ConfigError(source, f"{where}.{f.name}", out[f.name], "must not be empty")
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


def _actions(rows: list[dict], services: set[str], source: str) -> tuple[Action, ...]:
    """Each ``[[actions]]`` entry, its services known and its name unique."""
    seen, actions = set(), []
    for i, raw in enumerate(rows):
        if raw["name"] in seen:
            raise ConfigError(source, f"actions[{i}].name", raw["name"],
                              "duplicate name: action names must be unique")
        seen.add(raw["name"])
        names = (raw["services"],) if isinstance(raw["services"], str) else raw["services"]
        for name in names:
            if name not in services:
                raise ConfigError(source, f"actions[{i}].services", name,
                                  f"no [[services]] entry has this name (known: "
                                  f"{', '.join(sorted(services))})")
        if raw["method"] == "GET" and raw["body"]:
            raise ConfigError(source, f"actions[{i}].body", raw["body"],
                              'a GET sends no body: use method = "POST" (or drop the body)')
        actions.append(Action(**dict(raw, services=tuple(dict.fromkeys(names)),
                                     headers=dict(raw["headers"]),
                                     timeout=float(raw["timeout"]))))
    return tuple(actions)


def _service(raw: dict, source: str = "built-in defaults", i: int = 0) -> Service:
    raw = dict(raw, expect_status=tuple(raw["expect_status"]), timeout=float(raw["timeout"]),
               tls_warn_days=float(raw["tls_warn_days"]))
    if raw["tls_ca_file"] and not Path(raw["tls_ca_file"]).is_file():
        raise ConfigError(source, f"services[{i}].tls_ca_file", raw["tls_ca_file"],
                          "no such file")
    return Service(**raw)


def _windows(rows: list[dict], names: set[str], source: str) -> tuple[maint.Window, ...]:
    """The ``[[maintenance]]`` entries as windows: one-off or recurring, never both."""
    out = []
    for i, raw in enumerate(rows):
        where = f"maintenance[{i}]"
        if raw["service"] != "*" and raw["service"] not in names:
            raise ConfigError(source, f"{where}.service", raw["service"],
                              'no service has this name (use a [[services]] name or "*")')
        one_off, recurring = raw["start"] != "" or raw["end"] != "", raw["cron"] != ""
        if one_off == recurring:
            raise ConfigError(source, where, raw, "needs either start and end (a one-off "
                                                  "window) or cron and duration (a recurring "
                                                  "one)")
        pair = ("start", "end") if one_off else ("cron", "duration")
        for key in pair:
            if raw[key] == "":
                raise ConfigError(source, f"{where}.{key}", None,
                                  f"is required with {' and '.join(k for k in pair if k != key)}")
        other = ("cron", "duration") if one_off else ("start", "end")
        for key in other:
            if raw[key] != "":
                raise ConfigError(source, f"{where}.{key}", raw[key],
                                  f"cannot go with {pair[0]}: a window is one-off or recurring")
        window = maint.window(**raw)
        if one_off and window.end <= window.start:
            raise ConfigError(source, f"{where}.end", raw["end"], "must be after start")
        out.append(window)
    return tuple(out)


def reference_markdown() -> str:
    """The README's configuration reference, generated from the tables above."""
    def fmt(value):
        if value is None:
            return "required"
        if isinstance(value, bool):  # TOML spells them true and false
            return f"`{str(value).lower()}`"
        if isinstance(value, str) and value.startswith(os.path.expanduser("~")):
            return "`~" + value[len(os.path.expanduser("~")):] + "`"
        return f"`{value!r}`".replace("'", '"')

    lines = ["| key | default | environment | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        env = f"`{s.env}`" if s.env else ""
        lines.append(f"| `{s.key}` | {fmt(s.default)} | {env} | {s.help} |")
    for table, fields in TABLES.items():
        for f in fields:
            default = ("required" if f.required else "none" if f.default is None
                       else fmt(f.default))
            lines.append(f"| `{table}.{f.name}` | {default} | | {f.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown())
