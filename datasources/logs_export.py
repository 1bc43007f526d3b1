"""Whole-range CSV export of log pages, streamed so memory stays flat whatever the range.

Columns: ``timestamp`` (RFC 3339 with nanoseconds, UTC, e.g. ``2024-05-01T12:00:00.000000123Z``),
every label (stream labels, then structured metadata, then parsed labels, each group sorted),
``line``, ``level``, then the JSON fields in ``JSON_FIELDS`` order. ``level`` is there once:
the entry's level on the one scale of ``query.levels`` (the table's and the histogram's),
whether it came from a ``level`` label, ``detected_level`` or the JSON ``level`` field, so
those three are not columns of their own (the raw word stays in ``line``).
Missing values are empty cells. Redaction rules apply to every text cell (lines, labels and
fields alike — a secret in a JSON line is also in its extracted field); the cells and the header
are then written by ``query.csv_safe.write_csv``, the one CSV writer, which neutralises every
cell and name a spreadsheet would read as a formula and quotes every cell holding CR or LF.

Columns are discovered across pages, so the header is only known at the end. Pages are written
as they arrive, as CSV, to a spool file next to the output, remembering each page's column
list (a few bytes per page); the second pass writes the header and copies every spooled page
whose columns already match it byte for byte, and re-reads only pages that lack a column
discovered later, to pad them. Memory holds one page at a time, whichever way.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from datasources.loki_frame import JSON_FIELDS, JSON_PREFIX
from query.csv_safe import compiled_rule, header_row, rewrite_csv, rule_pairs, write_csv

LABEL_GROUPS = ("stream_labels", "structured_metadata", "parsed")
#: Where the entry's ``level`` came from: folded into that one column, not repeated.
LEVEL_SOURCES = frozenset({"level", "detected_level", JSON_PREFIX + "level"})

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: row count, header, the file (None when cancelled)."""

    rows: int
    columns: tuple[str, ...]
    path: str | None
    cancelled: bool = False


def rfc3339(ns: np.ndarray) -> np.ndarray:
    """int64 nanoseconds → ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`` strings."""
    text = np.datetime_as_string(np.asarray(ns, dtype=np.int64).view("M8[ns]"), unit="ns")
    return np.char.add(text.astype(str), "Z")


# --- columns ---------------------------------------------------------------------------------

def page_columns(page: pd.DataFrame) -> dict[str, list[str]]:
    """A page's export columns by group: labels (three groups) and extracted fields."""
    groups = {g: [c for c in page.attrs.get(g, []) if c not in LEVEL_SOURCES]
              for g in LABEL_GROUPS}
    fields = [c for c in page.attrs.get("fields", []) if c not in LEVEL_SOURCES]
    return {**groups, "fields": [c for c in ("level", *fields) if c in page.columns]}


def merge_columns(known: dict[str, list[str]], page: dict[str, list[str]]) -> None:
    """Add a page's columns to ``known`` (a column keeps the first group it was seen in)."""
    seen = {c for cols in known.values() for c in cols}
    for group, cols in page.items():
        known.setdefault(group, []).extend(c for c in cols if c not in seen)
        seen.update(cols)


def header(known: dict[str, list[str]]) -> list[str]:
    """timestamp, labels (each group sorted), line, level, JSON fields in their own order."""
    labels = [c for g in LABEL_GROUPS for c in sorted(known.get(g, []))]
    fields = sorted(known.get("fields", []), key=_field_rank)
    return ["timestamp", *labels, "line", *fields]


def _field_rank(name: str) -> tuple[int, str]:
    if name == "level":
        return -1, name
    bare = name.removeprefix(JSON_PREFIX)
    return (JSON_FIELDS.index(bare) if bare in JSON_FIELDS else len(JSON_FIELDS)), name


def export_frame(page: pd.DataFrame, columns: list[str], redact=()) -> dict:
    """The cells of ``page`` by column for ``write_csv``: formatted time, redacted text."""
    if "line" not in page.columns:
        raise ValueError("only log queries can be exported (this page has no log lines)")
    out = {"timestamp": rfc3339(page["timestamp"].array.asi8)}
    for name in columns[1:]:
        out[name] = export_cells(page[name], redact)
    return out


def export_cells(column: pd.Series, redact=()):
    """One column's redacted cells: categorical when there is nothing to redact."""
    if not any(True for _ in rule_pairs(redact)):
        return column
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Labels repeat: work on the distinct values, then spread them by code.
        distinct = [*column.cat.categories.astype(str), ""]
        cells = np.array(_redacted(distinct, redact), dtype=object)
        return cells[column.cat.codes.to_numpy()]
    return _redacted(column.to_numpy(dtype=object, na_value=""), redact)


def _redacted(values, redact) -> list:
    for pattern, replacement in rule_pairs(redact):
        rx = compiled_rule(pattern)
        values = [rx.sub(replacement, v) if v else v for v in values]
    return values


# --- the export ---------------------------------------------------------------------------------

def export_csv(pages: Iterable[pd.DataFrame], out: str | os.PathLike | IO[str], *,
               redact=(), progress: Progress | None = None,
               cancelled: Callable[[], bool] | None = None) -> ExportSummary:
    """Write every page to ``out`` as one CSV; ``progress(rows, last_ns)`` after each page."""
    target = Path(out) if isinstance(out, (str, os.PathLike)) else None
    spool_dir = target.parent if target else None
    with tempfile.TemporaryFile(dir=spool_dir, prefix=".export-spool-") as spool:
        spooled = _spool(pages, spool, redact, progress, cancelled)
        if spooled is None:
            return ExportSummary(0, (), None, cancelled=True)
        known, chunks, rows = spooled
        columns = header(known)
        if target is None:
            _write(spool, chunks, columns, out)
            return ExportSummary(rows, tuple(columns), getattr(out, "name", None))
        partial = target.with_name(target.name + ".part")
        try:
            with open(partial, "w", encoding="utf-8", newline="") as fh:
                _write(spool, chunks, columns, fh)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return ExportSummary(rows, tuple(columns), str(target))


def _spool(pages, spool, redact, progress, cancelled):
    """Pass 1: each page as CSV rows in ``spool``; None when cancelled."""
    known: dict[str, list[str]] = {}
    chunks: list[tuple[tuple[str, ...], int, int]] = []
    rows = 0
    iterator = iter(pages)
    try:
        for page in iterator:
            if cancelled and cancelled():
                return None
            if not len(page):
                continue
            cols = page_columns(page)
            merge_columns(known, cols)
            columns = header(cols)
            text = write_csv(export_frame(page, columns, redact), header=False)
            start = spool.tell()
            spool.write(text.encode("utf-8"))
            chunks.append((tuple(columns), start, spool.tell() - start))
            rows += len(page)
            if progress:
                progress(rows, int(page["timestamp"].array.asi8[-1]))
        if cancelled and cancelled():
            return None
    finally:
        close = getattr(iterator, "close", None)
        if close:
            close()  # stop the pager between pages
    return known, chunks, rows


def _write(spool, chunks, columns: list[str], fh: IO[str]) -> None:
    """Pass 2: header, then each spooled page, padded to the final columns where needed."""
    fh.write(header_row(columns))
    for page_cols, start, size in chunks:
        spool.seek(start)
        text = spool.read(size).decode("utf-8")
        if list(page_cols) == columns:
            fh.write(text)
            continue
        frame = pd.read_csv(io.StringIO(text), header=None, names=list(page_cols), dtype=str,
                            keep_default_na=False, na_filter=False)
        rewrite_csv(frame.reindex(columns=columns, fill_value=""), fh)


def progress_fraction(position_ns: int | None, start_ns: int, end_ns: int,
                      direction: str = "forward") -> float:
    """How far through ``[start, end)`` an export is, from the last timestamp written."""
    if position_ns is None or end_ns <= start_ns:
        return 0.0
    done = position_ns - start_ns if direction == "forward" else end_ns - position_ns
    return min(max(done / (end_ns - start_ns), 0.0), 1.0)
