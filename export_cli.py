"""``python app.py export-logs``: a whole range of logs to CSV from the command line.

    python app.py export-logs --query '{job="api"}' --start now-1h --end now --output api.csv

Loki's URL comes from the configuration (``loki.url``, or ``STACKSCOPE_LOKI_URL``). A progress
line goes to stderr. Exit codes: 0 done, 1 Loki failed (its own words are printed), 2 bad
arguments or configuration. The file appears under its name only when complete.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from config import Config
from query import timerange

# Loki's client and the CSV writer pull in pandas: imported by run(), so that app.py, which
# builds this parser on every start, answers a bad configuration without loading them.
if TYPE_CHECKING:
    from datasources.export_job import Progress
    from datasources.loki import Loki


def add_parser(sub, parents: list[argparse.ArgumentParser]) -> None:
    """The ``export-logs`` subcommand and its options."""
    cmd = sub.add_parser(
        "export-logs", parents=parents,
        help="export every log entry of a range to CSV (Loki from loki.url / "
             "STACKSCOPE_LOKI_URL)",
        description="Export every entry a LogQL query matches in [start, end) to CSV: "
                    "timestamp (RFC 3339, ns), every label, line, level (once), then the "
                    "JSON fields; the README lists the order.")
    cmd.add_argument("--query", required=True, help='LogQL log query, e.g. {job="api"}')
    cmd.add_argument("--start", required=True, metavar="T",
                     help='inclusive start: RFC 3339, epoch s/ms/ns, "now-1h"')
    cmd.add_argument("--end", required=True, metavar="T", help="exclusive end (same forms)")
    cmd.add_argument("--direction", choices=("forward", "backward"), default="forward",
                     help="oldest first (forward, default) or newest first")
    cmd.add_argument("--limit-per-page", type=_page_size, default=None, metavar="N",
                     help="entries asked per request (default: Loki's maximum per query)")
    cmd.add_argument("--output", required=True, metavar="F.csv", help="CSV file to write")


def _page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# --- times ----------------------------------------------------------------------------------

def resolve_range(start: str, end: str, now: float) -> tuple[int, int]:
    """Both ends in ns; ValueError when unreadable or when start is not before end."""
    start_ns, end_ns = timerange.parse_time_ns(start, now), timerange.parse_time_ns(end, now)
    if start_ns >= end_ns:
        raise ValueError(f"--start ({start}) must be before --end ({end})")
    return start_ns, end_ns


# --- progress -------------------------------------------------------------------------------

def progress_line(p: Progress) -> str:
    """'12,000 rows  3 pages  45,000 rows/s  at 2024-05-01T12:00:00.123456789Z  (40%)'."""
    from datasources.logs_export import rfc3339

    at = rfc3339(p.current_ns) if p.current_ns is not None else "-"
    return (f"{p.rows:,} rows  {p.pages} pages  {p.rate:,.0f} rows/s  at {at}  "
            f"({p.fraction:.0%})")


class StderrProgress:
    """One line rewritten in place on a terminal; a line per second otherwise."""

    def __init__(self, stream=None, clock=time.monotonic, every: float = 1.0):
        self.stream, self.clock, self.every = stream or sys.stderr, clock, every
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = -every

    def __call__(self, p: Progress) -> None:
        now = self.clock()
        if self.tty:
            self.stream.write("\r" + progress_line(p) + "\x1b[K")
        elif now - self.last >= self.every:
            self.stream.write(progress_line(p) + "\n")
            self.last = now
        self.stream.flush()

    def done(self, p: Progress | None) -> None:
        """The final line, always written."""
        if p is not None:
            self.stream.write(("\r" if self.tty else "") + progress_line(p) + "\n")


# --- the command ----------------------------------------------------------------------------

def run(args: argparse.Namespace, config: Config, *, err=None, now=time.time,
        loki: Loki | None = None) -> int:
    """Do the export; the exit code (0, 1 upstream, 2 arguments or configuration)."""
    from datasources.cache import Cache
    from datasources.errors import DatasourceError
    from datasources.export_job import run_export
    from datasources.loki import MAX_ENTRIES, Loki

    err = err or sys.stderr
    try:
        start_ns, end_ns = resolve_range(args.start, args.end, now())
    except ValueError as exc:
        return _fail(err, str(exc), 2)
    if loki is None and not config.loki.enabled:
        return _fail(err, "no Loki URL: set loki.url in the configuration file or "
                          "STACKSCOPE_LOKI_URL", 2)
    loki = loki or Loki(config.loki, Cache(Path(config.cache.dir) / "cache"))
    show, last = StderrProgress(err), []

    def report(p: Progress) -> None:
        last[:] = [p]
        show(p)

    try:
        summary = run_export(loki, args.query, start_ns, end_ns, args.direction, args.output,
                             redact=config.redact, page_size=args.limit_per_page or MAX_ENTRIES,
                             report=report)
    except DatasourceError as exc:
        return _fail(err, exc.describe(), 1)
    except ValueError as exc:  # a metric query, or a bad redaction pattern
        return _fail(err, str(exc), 2)
    except OSError as exc:
        return _fail(err, f"cannot write {exc.filename or args.output}: {exc.strerror}", 2)
    show.done(last[0] if last else None)
    err.write(f"wrote {summary.rows:,} rows, {len(summary.columns)} columns to "
              f"{args.output}\n")
    return 0


def _fail(err, message: str, code: int) -> int:
    err.write(f"stackscope export-logs: {message}\n")
    return code
