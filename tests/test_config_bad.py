"""Every bad configuration ends the same way: one line naming file, key and value, exit 2.

Each case runs the real command in a subprocess: ``python app.py --config F`` (serve) and,
when the problem is in the settings rather than in serving, ``python app.py check --config F``
too. The runs go through a thread pool all at once, so the table costs seconds, not minutes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stack.services import free_port

REPO = Path(__file__).resolve().parents[1]
LONG = "h" * 300_000


@dataclass(frozen=True)
class Bad:
    """One bad configuration and the words its one line must hold."""

    id: str
    body: str | bytes
    #: "key = value" as the message shows it; None when the file as a whole is wrong
    named: str | None
    #: a piece of the problem as the message states it
    says: str
    env: dict = field(default_factory=dict)
    flags: tuple = ()
    #: who the message blames; default the file
    source: str | None = None
    #: a value the message must not contain (a secret; the bulk of a huge value)
    hidden: str | None = None


SVC = '[[services]]\nname = "A"\nkind = "http"\nport = 1\n'


def svc(extra: str) -> str:
    return SVC + extra + "\n"


CASES = [
    # --- the file itself -------------------------------------------------------------------
    Bad("toml-syntax", "[server]\nport = = 1\n", None, "invalid TOML: Invalid value (at line 2"),
    Bad("toml-duplicate-key", "[server]\nport = 1\nport = 2\n", None, "invalid TOML"),
    Bad("toml-duplicate-table", "[server]\n[server]\n", None, "invalid TOML"),
    Bad("toml-nul-byte", b"[server]\nport = 1\x00\n", None, "invalid TOML"),
    Bad("not-utf8", b'[server]\nhost = "caf\xe9"\n', None, "not UTF-8 text: byte 0xe9 on line 2"),
    Bad("utf16", "[server]\nport = 1\n".encode("utf-16"), None, "not UTF-8 text: byte 0xff"),
    Bad("deep-arrays", "x = " + "[" * 100_000 + "]" * 100_000 + "\n", None,
        "invalid TOML: nested too deeply"),
    Bad("deep-inline-tables", "x = " + "{a = " * 50_000 + "1" + "}" * 50_000 + "\n", None,
        "invalid TOML: nested too deeply"),
    Bad("deep-dotted-key", "x" + ".x" * 50_000 + " = 1\n", None,
        "invalid TOML: nested too deeply (a key of more than 100 parts on line 1)"),
    Bad("deep-table-header", "[x" + ".x" * 500 + "]\n", None, "nested too deeply"),
    Bad("dotted-key-of-100-parts", "x" + ".x" * 99 + " = 1\n", "x = {'x': {'x': {'x': {...}}}}",
        "unknown section"),
    Bad("integer-of-5000-digits", "[server]\nport = 1" + "0" * 5000 + "\n", None,
        "invalid TOML: an integer of more than 4300 digits"),
    Bad("file-60-mb-host", "@HUGE", None, "larger than 1 MiB", hidden="hhhhh"),
    Bad("file-is-a-directory", "@DIR", None, "cannot read: Is a directory"),
    Bad("file-missing", "@MISSING", None, "file not found"),
    Bad("file-under-a-file", "@UNDERFILE", None, "cannot read: Not a directory"),
    Bad("config-env-missing", "@NOFLAG", None, "file not found",
        env={"STACKSCOPE_CONFIG": "@TMP/nope.toml"}, source="@TMP/nope.toml"),
    # --- sections and keys -----------------------------------------------------------------
    Bad("unknown-section", '[promethus]\nurl = "http://x"\n', "promethus = {'url': 'http://x'}",
        "unknown section"),
    Bad("unknown-key", '[server]\nhots = "x"\n', "server.hots = 'x'", "unknown key"),
    Bad("unknown-key-with-newline", '"a\\nb" = 1\n', "a\\nb = 1", "unknown section"),
    Bad("unknown-key-300k", f'"{LONG}" = 1\n', "… (300,000 characters) = 1", "unknown section",
        hidden="h" * 1000),
    Bad("section-not-a-table", "server = 1\n", "server = 1", "must be a table"),
    Bad("section-array-of-tables", "[[server]]\nport = 1\n", "server = [{'port': 1}]",
        "must be a table"),
    Bad("setting-as-table", "[server.host]\nname = 1\n", "server.host = {'name': 1}",
        "must be a string"),
    Bad("services-a-table", '[services]\nname = "A"\n', "services = {'name': 'A'}",
        "must be an array of tables"),
    Bad("services-of-numbers", "services = [1, 2]\n", "services = [1, 2]",
        "must be an array of tables"),
    # --- server ----------------------------------------------------------------------------
    Bad("port-0", "[server]\nport = 0\n", "server.port = 0", "between 1 and 65535"),
    Bad("port-99999", "[server]\nport = 99999\n", "server.port = 99999", "between 1 and 65535"),
    Bad("port-string", '[server]\nport = "8050"\n', "server.port = '8050'", "must be an integer"),
    Bad("port-float", "[server]\nport = 8050.5\n", "server.port = 8050.5", "must be an integer"),
    Bad("port-bool", "[server]\nport = true\n", "server.port = True", "must be an integer"),
    Bad("port-a-date", "[server]\nport = 2024-01-01\n", "server.port = datetime.date(2024, 1, 1)",
        "must be an integer"),
    Bad("port-2-to-the-100", f"[server]\nport = {2**100}\n", f"server.port = {2**100}",
        "between 1 and 65535"),
    Bad("host-empty", '[server]\nhost = ""\n', "server.host = ''", "must not be empty"),
    Bad("host-blank", '[server]\nhost = "  "\n', "server.host = '  '", "must not be empty"),
    Bad("host-254-chars", f'[server]\nhost = "{"a" * 254}"\n', "server.host = 'aaa",
        "at most 253 characters"),
    Bad("host-300k-chars", f'[server]\nhost = "{LONG}"\n', "server.host = 'hhh",
        "at most 253 characters", hidden="h" * 1000),
    Bad("host-with-space", '[server]\nhost = "local host"\n', "server.host = 'local host'",
        "must not contain spaces"),
    Bad("host-with-newline", '[server]\nhost = "a\\nb"\n', "server.host = 'a\\nb'",
        "line breaks or control characters (found '\\n' at position 1)"),
    Bad("host-a-number", "[server]\nhost = 127\n", "server.host = 127", "must be a string"),
    Bad("host-unresolvable", '[server]\nhost = "no-such-host.invalid"\n',
        "server.host = 'no-such-host.invalid'", "host name not resolved"),
    Bad("host-label-too-long", f'[server]\nhost = "{"a" * 64}.example"\n', "server.host = 'aaa",
        "part longer than 63 characters"),
    Bad("host-not-on-this-machine", '[server]\nhost = "192.0.2.1"\n',
        "server.host = '192.0.2.1'", "Cannot assign requested address"),
    Bad("port-in-use", "[server]\nhost = \"127.0.0.1\"\nport = @BUSY\n", "server.port = @BUSY",
        "cannot listen on 127.0.0.1:@BUSY: Address already in use"),
    Bad("flag-port-in-use", "", "server.port = @BUSY", "Address already in use",
        flags=("--port", "@BUSY"), source="command line"),
    Bad("flag-port-99999", "", "server.port = 99999", "between 1 and 65535",
        flags=("--port", "99999"), source="command line"),
    Bad("flag-host-empty", "", "server.host = ''", "must not be empty",
        flags=("--host", ""), source="command line"),
    Bad("connection-limit-5", "[server]\nconnection_limit = 5\n", "server.connection_limit = 5",
        "between 10 and 100000"),
    Bad("connection-limit-1e6", "[server]\nconnection_limit = 1000000\n",
        "server.connection_limit = 1000000", "between 10 and 100000"),
    Bad("connection-limit-float", "[server]\nconnection_limit = 500.5\n",
        "server.connection_limit = 500.5", "must be an integer"),
    Bad("threads-0", "[server]\nthreads = 0\n", "server.threads = 0", "between 1 and 256"),
    Bad("threads-1000", "[server]\nthreads = 1000\n", "server.threads = 1000",
        "between 1 and 256"),
    Bad("threads-string", '[server]\nthreads = "16"\n', "server.threads = '16'",
        "must be an integer"),
    Bad("channel-timeout-0", "[server]\nchannel_timeout = 0\n", "server.channel_timeout = 0",
        "between 1 and 86400 seconds"),
    Bad("channel-timeout-float", "[server]\nchannel_timeout = 1.5\n",
        "server.channel_timeout = 1.5", "must be an integer"),
    Bad("channel-timeout-1e9", "[server]\nchannel_timeout = 1000000000\n",
        "server.channel_timeout = 1000000000", "between 1 and 86400 seconds"),
    # --- refresh ---------------------------------------------------------------------------
    Bad("refresh-1e300", "[refresh]\nstatus = 1e300\n", "refresh.status = 1e+300",
        "between 0.5 and 86400 seconds"),
    Bad("refresh-1e-300", "[refresh]\nstatus = 1e-300\n", "refresh.status = 1e-300",
        "between 0.5 and 86400 seconds"),
    Bad("refresh-nan", "[refresh]\nmetrics = nan\n", "refresh.metrics = nan", "between 0.5"),
    Bad("refresh-inf", "[refresh]\nlogs = inf\n", "refresh.logs = inf", "between 0.5"),
    Bad("refresh-negative", "[refresh]\nstatus = -1\n", "refresh.status = -1", "between 0.5"),
    Bad("refresh-0.1", "[refresh]\nlogs = 0.1\n", "refresh.logs = 0.1", "between 0.5"),
    Bad("refresh-string", '[refresh]\nmetrics = "5"\n', "refresh.metrics = '5'",
        "must be an integer or a number"),
    Bad("refresh-bool", "[refresh]\nstatus = true\n", "refresh.status = True", "must be an"),
    Bad("refresh-huge-int", f"[refresh]\nstatus = {10**400}\n", "refresh.status = <integer",
        "between 0.5"),
    # --- cache -----------------------------------------------------------------------------
    Bad("cache-dir-a-file", '[cache]\ndir = "@TMP/a-file"\n', "cache.dir = '@TMP/a-file'",
        "exists and is not a directory"),
    Bad("cache-dir-under-a-file", '[cache]\ndir = "@TMP/a-file/cache"\n',
        "cache.dir = '@TMP/a-file/cache'", "cannot create it: Not a directory"),
    Bad("cache-dir-under-proc", '[cache]\ndir = "/proc/stackscope-cache"\n',
        "cache.dir = '/proc/stackscope-cache'", "cannot create it"),
    Bad("cache-dir-proc-itself", '[cache]\ndir = "/proc"\n', "cache.dir = '/proc'",
        "cannot write a file in it"),
    Bad("cache-dir-env-a-file", "", "cache.dir = '@TMP/a-file'", "not a directory",
        env={"STACKSCOPE_CACHE_DIR": "@TMP/a-file"},
        source="environment STACKSCOPE_CACHE_DIR"),
    Bad("cache-dir-empty", '[cache]\ndir = ""\n', "cache.dir = ''", "must not be empty"),
    Bad("cache-dir-newline", '[cache]\ndir = "/tmp/x\\n"\n', "cache.dir = '/tmp/x\\n'",
        "line breaks"),
    Bad("cache-url-http", '[cache]\nurl = "http://:pw-9c1e@127.0.0.1:6379/0"\n',
        "cache.url = <secret: 32 characters>", "must be a redis://, rediss:// or unix://",
        hidden="pw-9c1e"),
    Bad("cache-url-env-no-host", "", "cache.url = <secret: 14 characters>", "has no host",
        env={"STACKSCOPE_CACHE_URL": "redis://:pw@/0"}, source="environment STACKSCOPE_CACHE_URL",
        hidden=":pw@"),
    Bad("cache-url-db", '[cache]\nurl = "redis://127.0.0.1:6379/x"\n',
        "cache.url = <secret: 24 characters>", "must end in a database number"),
    Bad("cache-timeout-0", "[cache]\ntimeout = 0\n", "cache.timeout = 0", "between 0.01 and 10"),
    # --- running several replicas ----------------------------------------------------------
    Bad("exports-dir-a-file", '[exports]\ndir = "@TMP/a-file"\n', "exports.dir = '@TMP/a-file'",
        "exists and is not a directory"),
    Bad("exports-broker-http", '[exports]\nbroker = "http://127.0.0.1:6379"\n',
        "exports.broker = <secret", "must be a redis:// or rediss:// URL"),
    Bad("exports-broker-no-host", '[exports]\nbroker = "redis:///0"\n',
        "exports.broker = <secret", "has no host"),
    Bad("log-format-xml", '[log]\nformat = "xml"\n', "log.format = 'xml'",
        "must be one of 'text', 'json'"),
    Bad("metrics-token-newline", "", "server.metrics_token = <secret",
        "line breaks", env={"STACKSCOPE_METRICS_TOKEN": "s3cr\nt"},
        source="environment STACKSCOPE_METRICS_TOKEN", hidden="s3cr"),
    Bad("status-ttl-0", "[cache]\nstatus_ttl = 0\n", "cache.status_ttl = 0", "between 0.01"),
    Bad("status-ttl-1e308", "[cache]\nstatus_ttl = 1e308\n", "cache.status_ttl = 1e+308",
        "between 0.01 and 86400"),
    Bad("backoff-max-negative-inf", "[cache]\nbackoff_max = -inf\n", "cache.backoff_max = -inf",
        "between 0.01"),
    # --- upstreams -------------------------------------------------------------------------
    Bad("url-scheme-only", '[prometheus]\nurl = "http://"\n', "prometheus.url = 'http://'",
        "has no host"),
    Bad("url-with-space", '[prometheus]\nurl = "http://local host:9090"\n',
        "prometheus.url = 'http://local host:9090'", "must not contain spaces"),
    Bad("url-port-99999", '[loki]\nurl = "http://127.0.0.1:99999"\n',
        "loki.url = 'http://127.0.0.1:99999'", "bad port"),
    Bad("url-port-0", '[loki]\nurl = "http://127.0.0.1:0"\n', "loki.url = 'http://127.0.0.1:0'",
        "bad port"),
    Bad("url-no-scheme", '[prometheus]\nurl = "localhost:9090"\n',
        "prometheus.url = 'localhost:9090'", "must be an http:// or https:// URL"),
    Bad("url-ftp", '[alertmanager]\nurl = "ftp://x"\n', "alertmanager.url = 'ftp://x'",
        "must be an http:// or https:// URL"),
    Bad("url-bad-ipv6", '[prometheus]\nurl = "http://[::1:9090"\n',
        "prometheus.url = 'http://[::1:9090'", "not a valid URL"),
    Bad("url-with-query", '[prometheus]\nurl = "http://127.0.0.1:9090/?x=1"\n',
        "prometheus.url = 'http://127.0.0.1:9090/?x=1'", "?query or #fragment"),
    Bad("url-newline", '[loki]\nurl = "http://127.0.0.1:3100\\n"\n',
        "loki.url = 'http://127.0.0.1:3100\\n'", "line breaks"),
    Bad("url-a-number", "[loki]\nurl = 3100\n", "loki.url = 3100", "must be a string"),
    Bad("url-env-newline", "", "prometheus.url = 'http://127.0.0.1:9090\\n'", "line breaks",
        env={"STACKSCOPE_PROMETHEUS_URL": "http://127.0.0.1:9090\n"},
        source="environment STACKSCOPE_PROMETHEUS_URL"),
    Bad("token-env-newline", "", "prometheus.bearer_token = <secret: 11 characters>",
        "found '\\n' at position 10", env={"STACKSCOPE_PROMETHEUS_BEARER_TOKEN": "s3cr3t-tok\n"},
        source="environment STACKSCOPE_PROMETHEUS_BEARER_TOKEN", hidden="s3cr3t"),
    Bad("password-env-cr", "", "loki.password = <secret: 4 characters>", "found '\\r'",
        env={"STACKSCOPE_LOKI_PASSWORD": "pw\r\n"}, source="environment STACKSCOPE_LOKI_PASSWORD",
        hidden="pw"),
    Bad("tenant-env-newline", "", "loki.tenant = 'team\\n'", "line breaks",
        env={"STACKSCOPE_LOKI_TENANT": "team\n"}, source="environment STACKSCOPE_LOKI_TENANT"),
    Bad("token-a-number", "[loki]\nbearer_token = 12345678\n", "loki.bearer_token = <secret: int>",
        "must be a string", hidden="12345678"),
    Bad("timeout-1e308", "[prometheus]\ntimeout = 1e308\n", "prometheus.timeout = 1e+308",
        "between 0.01 and 3600 seconds"),
    Bad("notify-yes", '[alertmanager]\nnotify = "yes"\n', "alertmanager.notify = 'yes'",
        "true or false"),
    Bad("notify-interval-0", "[alertmanager]\nnotify_interval = 0\n",
        "alertmanager.notify_interval = 0", "between 1 and 3600 seconds"),
    # --- the limits the server owns and the export queue ---------------------------------
    Bad("exports-keep-1e300", "[exports]\nkeep = 1e300\n", "exports.keep = 1e+300",
        "between 1 and 604800 seconds"),
    Bad("exports-max-running-0", "[exports]\nmax_running = 0\n", "exports.max_running = 0",
        "between 1 and 64"),
    Bad("metrics-max-points-1e9", "[metrics]\nmax_points = 1000000000\n",
        "metrics.max_points = 1000000000", "between 1 and 11000"),
    Bad("force-interval-nan", "[limits]\nforce_interval = nan\n", "limits.force_interval = nan",
        "between 0.1 and 3600 seconds"),
    Bad("cache-size-limit-1", "[cache]\nsize_limit = 1\n", "cache.size_limit = 1",
        "between 1048576 and 1099511627776 bytes"),
    Bad("timeout-0", "[loki]\ntimeout = 0\n", "loki.timeout = 0", "between 0.01"),
    Bad("timeout-nan", "[alertmanager]\ntimeout = nan\n", "alertmanager.timeout = nan",
        "between 0.01"),
    Bad("cache-ttl-negative", "[prometheus]\ncache_ttl = -1\n", "prometheus.cache_ttl = -1",
        "between 0.01"),
    Bad("headers-not-a-table", '[prometheus]\nheaders = "X-A: 1"\n',
        "prometheus.headers = <secret: 6 characters>", "must be a table"),
    Bad("header-value-crlf", '[prometheus.headers]\nX-A = "1\\r\\nX-Injected: 2"\n',
        "prometheus.headers = <secret: dict>", "header 'X-A' must not contain line breaks",
        hidden="Injected"),
    Bad("header-value-newline", '[loki.headers]\nX-A = "1\\nb"\n',
        "loki.headers = <secret: dict>", "found '\\n' at position 1"),
    Bad("header-name-space", '[loki.headers]\n"X A" = "1"\n', "loki.headers = <secret: dict>",
        "'X A' is not an HTTP header name"),
    Bad("header-name-newline", '[loki.headers]\n"X\\nA" = "1"\n',
        "loki.headers = <secret: dict>", "is not an HTTP header name"),
    Bad("header-name-empty", '[loki.headers]\n"" = "1"\n', "loki.headers = <secret: dict>",
        "'' is not an HTTP header name"),
    Bad("header-value-number", "[loki.headers]\nX-A = 1\n", "loki.headers = <secret: dict>",
        "header 'X-A' must be a string"),
    # --- metrics and logs ------------------------------------------------------------------
    Bad("max-data-points-0", "[metrics]\nmax_data_points = 0\n", "metrics.max_data_points = 0",
        "between 1 and 11000"),
    Bad("max-data-points-1e9", "[metrics]\nmax_data_points = 1000000000\n",
        "metrics.max_data_points = 1000000000", "between 1 and 11000"),
    Bad("max-data-points-float", "[metrics]\nmax_data_points = 10.5\n",
        "metrics.max_data_points = 10.5", "must be an integer"),
    Bad("min-step-inf", "[metrics]\nmin_step = inf\n", "metrics.min_step = inf", "between 0.001"),
    Bad("scrape-interval-nan", "[metrics]\nscrape_interval = nan\n",
        "metrics.scrape_interval = nan", "between 0.001"),
    Bad("logs-limit-0", "[logs]\nlimit = 0\n", "logs.limit = 0", "between 1 and 5000"),
    Bad("logs-limit-huge", "[logs]\nlimit = 1000000\n", "logs.limit = 1000000",
        "between 1 and 5000"),
    Bad("logs-limit-string", '[logs]\nlimit = "100"\n', "logs.limit = '100'", "an integer"),
    # --- services --------------------------------------------------------------------------
    Bad("service-kind-udp", '[[services]]\nname = "A"\nkind = "udp"\nport = 1\n',
        "services[0].kind = 'udp'", "must be one of 'tcp', 'http'"),
    Bad("service-port-70000", '[[services]]\nname = "A"\nkind = "tcp"\nport = 70000\n',
        "services[0].port = 70000", "between 1 and 65535"),
    Bad("service-port-missing", '[[services]]\nname = "A"\nkind = "tcp"\n',
        "services[0].port = None", "is required"),
    Bad("service-duplicate", svc('[[services]]\nname = "A"\nkind = "tcp"\nport = 2'),
        "services[1].name = 'A'", "duplicate name"),
    Bad("service-unknown-key", svc("prot = 2"), "services[0].prot = 2", "unknown key"),
    Bad("service-name-empty", '[[services]]\nname = ""\nkind = "tcp"\nport = 1\n',
        "services[0].name = ''", "must not be empty"),
    Bad("service-name-newline", '[[services]]\nname = "A\\nB"\nkind = "tcp"\nport = 1\n',
        "services[0].name = 'A\\nB'", "line breaks"),
    Bad("service-host-empty", svc('host = ""'), "services[0].host = ''", "must not be empty"),
    Bad("service-host-254", svc(f'host = "{"a" * 254}"'), "services[0].host = 'aaa",
        "at most 253 characters"),
    Bad("service-host-label-64", svc(f'host = "{"a" * 64}.example"'), "services[0].host = 'aaa",
        "part longer than 63"),
    Bad("service-host-space", svc('host = "a b"'), "services[0].host = 'a b'", "spaces"),
    Bad("service-path-crlf", svc('path = "/ready\\r\\nX: y"'),
        "services[0].path = '/ready\\r\\nX: y'", "line breaks"),
    Bad("service-path-space", svc('path = "/a b"'), "services[0].path = '/a b'", "spaces"),
    Bad("service-timeout-1e308", svc("timeout = 1e308"), "services[0].timeout = 1e+308",
        "between 0.01 and 3600"),
    Bad("service-timeout-0", svc("timeout = 0"), "services[0].timeout = 0", "between 0.01"),
    Bad("service-expect-reversed", svc("expect_status = [400, 200]"),
        "services[0].expect_status = [400, 200]", "low <= high"),
    Bad("service-expect-one", svc("expect_status = [200]"), "services[0].expect_status = [200]",
        "[low, high]"),
    Bad("service-expect-strings", svc('expect_status = ["200", "399"]'),
        "services[0].expect_status = ['200', '399']", "[low, high]"),
    Bad("service-keyword-number", svc("keyword = 1"), "services[0].keyword = 1",
        "must be a string"),
    Bad("service-severity-number", svc("severity = 1"), "services[0].severity = 1",
        "must be a string"),
    # --- panels, log queries, redaction ----------------------------------------------------
    Bad("panel-query-missing", '[[panels]]\ntitle = "T"\n', "panels[0].query = None",
        "is required"),
    Bad("panel-query-empty", '[[panels]]\ntitle = "T"\nquery = " "\n', "panels[0].query = ' '",
        "must not be empty"),
    Bad("panel-title-newline", '[[panels]]\ntitle = "T\\n"\nquery = "up"\n',
        "panels[0].title = 'T\\n'", "line breaks"),
    Bad("log-query-name-empty", '[[log_queries]]\nname = ""\nquery = "{a=\\"b\\"}"\n',
        "log_queries[0].name = ''", "must not be empty"),
    Bad("redact-bad-regex", '[[redact]]\npattern = "token=([a-z"\n',
        "redact[0].pattern = 'token=([a-z'", "not a valid regular expression"),
    Bad("redact-matches-empty", '[[redact]]\npattern = "x*"\n', "redact[0].pattern = 'x*'",
        "matches empty text"),
]


#: Also run as `app.py check`: both commands read the file through one load_config, so one
#: case of each kind (the file, a value, the environment, a service, a table) is enough there.
#: Serving problems (address, port, cache dir) are not in it: `check` neither listens nor caches.
ALSO_CHECK = {
    "toml-syntax", "not-utf8", "deep-arrays", "deep-inline-tables", "deep-dotted-key",
    "integer-of-5000-digits", "file-60-mb-host", "file-is-a-directory", "file-missing",
    "config-env-missing", "unknown-section", "unknown-key-300k", "host-empty",
    "refresh-1e300", "refresh-1e-300", "timeout-1e308", "url-scheme-only", "url-with-space",
    "url-port-99999", "header-value-crlf", "url-env-newline", "token-env-newline",
    "service-kind-udp", "service-port-70000", "service-duplicate", "service-host-empty",
    "service-path-crlf", "service-timeout-1e308", "service-expect-reversed",
    "panel-query-missing", "redact-bad-regex",
}


def commands(case: Bad) -> list[str]:
    return ["serve", "check"] if case.id in ALSO_CHECK else ["serve"]


RUNS = [(case, cmd) for case in CASES for cmd in commands(case)]


def fill(text, tmp: Path, busy: int):
    """The case's placeholders: @TMP (a scratch directory) and @BUSY (a port in use)."""
    if isinstance(text, bytes):
        return text
    return text.replace("@TMP", str(tmp)).replace("@BUSY", str(busy))


def config_path(case: Bad, tmp: Path, busy: int) -> Path | None:
    """Write the case's file; odd paths for the cases about the file itself."""
    if case.body == "@NOFLAG":
        return None
    special = {"@DIR": tmp, "@MISSING": tmp / "missing.toml",
               "@UNDERFILE": tmp / "a-file" / "c.toml"}
    if case.body in special:
        return special[case.body]
    path = tmp / f"{case.id}.toml"
    if case.body == "@HUGE":  # a 60 MB host name, written in pieces
        with open(path, "w") as fh:
            fh.write('[server]\nhost = "')
            for _ in range(60):
                fh.write("h" * 1_000_000)
            fh.write('"\n')
        return path
    body = fill(case.body, tmp, busy)
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return path


def run(case: Bad, cmd: str, tmp: Path, busy: int) -> tuple[Path | None,
                                                          subprocess.CompletedProcess]:
    path = config_path(case, tmp, busy)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSCOPE_")}
    # The default cache dir lives under XDG_CACHE_HOME: keep it out of the home directory.
    env.update(XDG_CACHE_HOME=str(tmp / "xdg"),
               **{k: fill(v, tmp, busy) for k, v in case.env.items()})
    argv = [sys.executable, str(REPO / "app.py"), *(fill(f, tmp, busy) for f in case.flags)]
    argv += ["check"] if cmd == "check" else []
    argv += ["--config", str(path)] if path else []
    # cwd is the scratch directory: no ./stackscope.toml can be picked up by accident.
    return path, subprocess.run(argv, cwd=tmp, env=env, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory):
    """The selected runs of the table, started at once on a pool; a future per (case, cmd)."""
    # Only what this session will test (`-k port` runs a few cases, not all of them).
    wanted = [(item.callspec.params["case"], item.callspec.params["cmd"])
              for item in request.session.items
              if item.originalname == "test_bad_config_ends_in_one_line_and_exit_2"]
    tmp = tmp_path_factory.mktemp("bad-config")
    (tmp / "a-file").write_text("a file where a directory should be")
    busy = socket.socket()
    busy.bind(("127.0.0.1", free_port()))
    busy.listen()
    port = busy.getsockname()[1]
    with busy, ThreadPoolExecutor(max_workers=6) as pool:
        futures = {(c.id, cmd): pool.submit(run, c, cmd, tmp, port) for c, cmd in wanted}
        yield tmp, port, futures
        for f in futures.values():
            f.cancel()


@pytest.mark.parametrize(("case", "cmd"), RUNS, ids=[f"{c.id}-{cmd}" for c, cmd in RUNS])
def test_bad_config_ends_in_one_line_and_exit_2(outcomes, case, cmd):
    tmp, busy, futures = outcomes
    future: Future = futures[(case.id, cmd)]
    path, proc = future.result()
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    assert proc.returncode == 2, stderr[-3000:]
    assert proc.stdout == b""
    lines = stderr.splitlines()
    assert len(lines) == 1, lines[:5]
    line = lines[0]
    source = fill(case.source, tmp, busy) if case.source else str(path)
    assert line.startswith(f"stackscope: config error in {source}: "), line[:500]
    if case.named is not None:
        assert fill(case.named, tmp, busy) in line, line[:500]
    assert fill(case.says, tmp, busy) in line, line[:500]
    # Bounded: a 300 000-character value is cut, a 60 MB file is not echoed.
    assert len(line) < 600 + len(source), len(line)
    if case.hidden:
        assert case.hidden not in line.removeprefix(f"stackscope: config error in {source}: ")


def test_table_covers_the_issue_findings():
    """The 20 configurations of issue 9's finding 11 are all in the table (by their ids)."""
    ids = {c.id for c in CASES}
    finding = {"not-utf8", "deep-arrays", "cache-dir-a-file", "cache-dir-under-proc",
               "host-unresolvable", "host-empty", "port-in-use", "refresh-1e300",
               "url-scheme-only", "url-with-space", "url-port-99999", "port-99999",
               "header-value-crlf", "url-env-newline", "token-env-newline", "timeout-1e308",
               "file-60-mb-host", "host-300k-chars", "refresh-1e-300", "deep-inline-tables"}
    assert finding.issubset(ids)
    assert ALSO_CHECK.issubset(ids)
    assert len(CASES) >= 65 and len({c.id for c in CASES}) == len(CASES)


def test_unresolvable_service_host_is_a_probe_detail_not_a_config_error(tmp_path):
    """Resolving at start-up would tie start-up to DNS: the card shows it, `check` exits 1."""
    path = tmp_path / "c.toml"
    path.write_text('[[services]]\nname = "Nowhere"\nkind = "tcp"\nport = 80\n'
                    'host = "no-such-host.invalid"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSCOPE_")}
    proc = subprocess.run([sys.executable, str(REPO / "app.py"), "check", "--config", str(path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and proc.stderr == ""
    row = next(x for x in proc.stdout.splitlines() if x.startswith("Nowhere"))
    assert "DOWN" in row and row.endswith("DNS: host name no-such-host.invalid not resolved")
