"""The demo's log store: Loki's query API (``stack.loki_api``) over the demo's own logs.

    python -m stack.log_store --port 3100 --dir .stack/logstore \\
        --api-log .stack/logs/api.log --nginx-log .stack/nginx/access.log \\
        [--history .stack/prometheus/data/stackscope-history.json] [--cap-mb 128]

``make run`` starts it on Loki's port when no ``loki`` binary is on PATH. It does what
Promtail and Loki would do for the demo:

- **tails** the demo API's JSON log and NGINX's JSON access log like Promtail: from where it
  stopped last time (``positions.json``), following a file that is rotated (renamed, then
  recreated) to its end, and starting over when a file is truncated (found shorter than where
  reading stopped). Labels: ``job``
  (``api``/``nginx``), ``service`` (``demo-api``/``nginx``), ``filename`` and ``level`` (the
  API line's ``level``; for NGINX 5xx ``error``, 4xx ``warn``, else ``info``). An entry's time
  is the line's ``timestamp`` (API) or ``msec`` (NGINX), else when it was read. Lines are
  stored at once and served once they are a second old, so entries arrive in time order.
- **keeps** every entry in append-only JSON-lines segments under ``--dir`` (``[ts_ns, labels,
  line]`` per line, a new segment every 8 MB); past ``--cap-mb`` (128 MB) the oldest segments
  are deleted and their entries dropped from memory too.
- **backfills** once (marker ``backfill.json``) the week that the metrics history covers
  (``stack.log_backfill``, read from the history's marker), so logs and metrics tell one story.

It answers ``/ready`` once the data is loaded, with Loki's "pipeline error" for metric queries
over lines a parser could not read (``LokiAPI(pipeline_errors=True)``).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from stack import history
from stack.log_backfill import Week, status_level
from stack.log_backfill import entries as backfill_entries
from stack.loki_api import DataSet, LokiAPI, LokiHTTPError, from_entries, parse_time

SEGMENT_BYTES = 8 << 20
CAP_MB = 128
SETTLE_NS = 10**9
MARKER = "backfill.json"
POSITIONS = "positions.json"


# ---------------------------------------------------------------- segments on disk


class Segments:
    """Append-only JSON-lines files ``segment-NNNNNN.jsonl``; oldest deleted past the cap."""

    def __init__(self, directory: Path | str, cap_bytes: int = CAP_MB << 20,
                 segment_bytes: int = SEGMENT_BYTES):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cap, self.segment_bytes = cap_bytes, segment_bytes
        self.newest: dict[Path, int] = {}  # segment → newest ts in it

    def files(self) -> list[Path]:
        return sorted(self.dir.glob("segment-*.jsonl"))

    def size(self) -> int:
        """Bytes held on disk."""
        return sum(p.stat().st_size for p in self.files())

    def load(self) -> list[tuple]:
        """Every entry held, in the order written (a torn last line is skipped)."""
        out = []
        for path in self.files():
            newest = 0
            for raw in path.read_bytes().splitlines():
                try:
                    ts, labels, line = orjson.loads(raw)
                except (orjson.JSONDecodeError, ValueError):
                    continue
                out.append((ts, labels, line))
                newest = max(newest, ts)
            self.newest[path] = newest
        return out

    def append(self, new: list[tuple]) -> int | None:
        """Write ``new`` entries; the newest evicted ts when the cap deleted segments, else None."""
        if not new:
            return None
        files = self.files()
        path = files[-1] if files and files[-1].stat().st_size < self.segment_bytes else (
            self.dir / f"segment-{len(files) and int(files[-1].stem[8:]) + 1:06d}.jsonl")
        with open(path, "ab") as out:
            out.write(b"".join(orjson.dumps(list(e)) + b"\n" for e in new))
        self.newest[path] = max(self.newest.get(path, 0), max(int(e[0]) for e in new))
        return self.evict()

    def evict(self) -> int | None:
        """Delete the oldest segments while over the cap (never the newest)."""
        cutoff, files = None, self.files()
        total = sum(p.stat().st_size for p in files)
        while total > self.cap and len(files) > 1:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            newest = self.newest.pop(oldest, 0)
            cutoff = max(cutoff or 0, newest)
            oldest.unlink()
        return cutoff


# ---------------------------------------------------------------- tailing files


class Tail:
    """Reads the lines appended to one file, across rotation and truncation."""

    def __init__(self, path: Path | str, parse: Callable[[str, int], tuple],
                 position: dict | None = None):
        self.path, self.parse, self.saved = Path(path), parse, position or {}
        self.file = None
        self.partial = b""

    def position(self) -> dict:
        """Where reading stopped: the file's inode and the offset of the next whole line."""
        if self.file is None:
            return self.saved
        return {"inode": os.fstat(self.file.fileno()).st_ino,
                "offset": self.file.tell() - len(self.partial)}

    def read(self, now_ns: int) -> list[tuple]:
        """Entries of the whole lines written since the last read."""
        if self.file is None and not self._open():
            return []
        lines = self._lines()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self._parsed(lines, now_ns)
        if st.st_ino != os.fstat(self.file.fileno()).st_ino:  # rotated: finish the old one
            lines += self._lines(final=True)
            self.file.close()
            self.file, self.saved = None, {}
            if self._open():
                lines += self._lines()
        elif st.st_size < self.file.tell():  # truncated: start over
            self.file.seek(0)
            self.partial = b""
            lines += self._lines()
        return self._parsed(lines, now_ns)

    def _open(self) -> bool:
        try:
            self.file = open(self.path, "rb")  # noqa: SIM115 (held open across reads)
        except FileNotFoundError:
            return False
        st = os.fstat(self.file.fileno())
        if self.saved.get("inode") == st.st_ino and self.saved.get("offset", 0) <= st.st_size:
            self.file.seek(self.saved["offset"])
        self.partial = b""
        return True

    def _lines(self, final: bool = False) -> list[bytes]:
        data = self.partial + self.file.read()
        *whole, self.partial = data.split(b"\n")
        if final and self.partial:
            whole.append(self.partial)
            self.partial = b""
        return whole

    def _parsed(self, lines: list[bytes], now_ns: int) -> list[tuple]:
        out = []
        for raw in lines:
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            if text.strip():
                out.append(self.parse(text, now_ns))
        return out


def api_parser(filename: str) -> Callable[[str, int], tuple]:
    """The demo API's JSON lines: time from ``timestamp``, level label from ``level``."""
    base = {"job": "api", "service": "demo-api", "filename": filename}

    def parse(text: str, now_ns: int) -> tuple:
        record = _json(text)
        labels = dict(base)
        if isinstance(record.get("level"), str) and record["level"]:
            labels["level"] = record["level"]
        try:
            ts = parse_time(str(record["timestamp"]), now_ns)
        except (KeyError, LokiHTTPError):
            ts = now_ns
        return ts, labels, text

    return parse


def nginx_parser(filename: str) -> Callable[[str, int], tuple]:
    """NGINX's JSON access lines: time from ``msec``, level from ``status_code``."""
    base = {"job": "nginx", "service": "nginx", "filename": filename}

    def parse(text: str, now_ns: int) -> tuple:
        record = _json(text)
        labels = dict(base)
        with contextlib.suppress(KeyError, TypeError, ValueError):
            labels["level"] = status_level(int(record["status_code"]))
        try:
            ts = round(float(record["msec"]) * 1000) * 10**6
        except (KeyError, TypeError, ValueError):
            ts = now_ns
        return ts, labels, text

    return parse


def _json(text: str) -> dict:
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


# ---------------------------------------------------------------- the store


class LogStore:
    """Segments + tails + the served data set: ``feed()`` moves new lines into all of them."""

    def __init__(self, directory: Path | str, tails: list[Tail], *, cap_mb: float = CAP_MB,
                 now: Callable[[], float] = time.time):
        self.dir = Path(directory)
        self.segments = Segments(self.dir, int(cap_mb * (1 << 20)))
        self.tails, self.now = tails, now
        self.pending: list[tuple] = []
        self.data = DataSet([], [], [], [])

    def open(self, week: Week | None) -> LogStore:
        """Load the segments, after writing the backfill if it was never written."""
        if week is not None and not (self.dir / MARKER).is_file():
            for old in self.segments.files():
                old.unlink()  # an interrupted backfill: start it afresh
            made = backfill_entries(week)
            for i in range(0, len(made), 20_000):
                self.segments.append(made[i:i + 20_000])
            (self.dir / MARKER).write_text(json.dumps({"start": week.start, "end": week.end,
                                                       "entries": len(made)}))
        self.data = from_entries(self.segments.load())
        return self

    def feed(self) -> int:
        """Read the tails and store what they gave; serve the entries at least SETTLE_NS old.

        How many entries began to be served.
        """
        now_ns = int(self.now() * 1e9)
        new = [e for tail in self.tails for e in tail.read(now_ns)]
        cutoff = self.segments.append(new)
        if new:
            self.save_positions()
        self.pending = sorted(self.pending + new, key=lambda e: e[0])
        ready = [e for e in self.pending if e[0] <= now_ns - SETTLE_NS]
        self.pending = self.pending[len(ready):]
        data = self.data.extended(ready)
        self.data = data.after(cutoff) if cutoff is not None else data
        return len(ready)

    def positions(self) -> dict:
        """Where each tailed file was read up to, as last saved."""
        try:
            return json.loads((self.dir / POSITIONS).read_text())
        except (OSError, ValueError):
            return {}

    def save_positions(self) -> None:
        """Save where each file was read up to (every line before it is in a segment)."""
        held = {str(tail.path): tail.position() for tail in self.tails}
        tmp = self.dir / (POSITIONS + ".tmp")
        tmp.write_text(json.dumps(held))
        tmp.replace(self.dir / POSITIONS)


def week_of(history_marker: Path | None, api_address: str, api_file: str, nginx_file: str,
            now: float) -> Week:
    """The week to backfill: the metrics history's, else the week before ``now``."""
    try:
        info = json.loads(Path(history_marker).read_text()) if history_marker else None
        return Week(info["start"], info["end"], info["resolution"], api_address, api_file,
                    nginx_file)
    except (OSError, ValueError, KeyError, TypeError):
        end = now // history.RESOLUTION * history.RESOLUTION
        return Week(end - history.DEFAULT_DAYS * history.DAY // history.RESOLUTION
                    * history.RESOLUTION, end, history.RESOLUTION, api_address, api_file,
                    nginx_file)


# ---------------------------------------------------------------- command line


def parse_args(argv=None) -> argparse.Namespace:
    """The command line of ``python -m stack.log_store``."""
    parser = argparse.ArgumentParser(prog="python -m stack.log_store",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3100)
    parser.add_argument("--dir", default=".stack/logstore", help="where the segments live")
    parser.add_argument("--api-log", default=".stack/logs/api.log")
    parser.add_argument("--nginx-log", default=".stack/nginx/access.log")
    parser.add_argument("--api-address", default="127.0.0.1:8000",
                        help="host:port the backfilled deploy lines name")
    parser.add_argument("--history", default="", help="the metrics history's marker file")
    parser.add_argument("--no-backfill", action="store_true")
    parser.add_argument("--cap-mb", type=float, default=CAP_MB,
                        help=f"most MB of segments kept; oldest deleted first (default {CAP_MB})")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between reads")
    return parser.parse_args(argv)


def build(args, now: Callable[[], float] = time.time) -> LogStore:
    """The store the arguments describe, opened (backfilled once, loaded)."""
    directory = Path(args.dir).resolve()
    api_file, nginx_file = str(Path(args.api_log).resolve()), str(Path(args.nginx_log).resolve())
    saved = LogStore(directory, []).positions()
    tails = [Tail(api_file, api_parser(api_file), saved.get(api_file)),
             Tail(nginx_file, nginx_parser(nginx_file), saved.get(nginx_file))]
    week = None if args.no_backfill else week_of(
        Path(args.history) if args.history else None, args.api_address, api_file, nginx_file,
        now())
    return LogStore(directory, tails, cap_mb=args.cap_mb, now=now).open(week)


def main(argv=None) -> int:
    """Serve the store until SIGTERM or Ctrl-C."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    store = build(args)
    api = LokiAPI(args.host, args.port, pipeline_errors=True)
    api.requests = collections.deque(maxlen=100)  # a long-running server keeps only the last
    api.data = store.data
    api.start()
    print(f"log store: {len(store.data)} entries from {store.dir}, serving Loki's API on "
          f"{api.url}", flush=True)
    try:
        while True:
            if store.feed():
                api.data = store.data
            time.sleep(args.poll)
    except KeyboardInterrupt:
        return 0
    finally:
        api.stop()


def reset(directory: Path | str) -> None:
    """Delete the store (``--reset-history`` writes a fresh week of logs too)."""
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
