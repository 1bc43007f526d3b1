"""CSV that is safe to open in a spreadsheet: the one writer every export uses, and redaction.

``write_csv`` is that writer (the Logs tab's export, ``app.py export-logs`` and a panel's
Download CSV all go through it):

- every text cell and every header name passes through ``safe_cell`` (OWASP "CSV injection":
  a leading = + - @, tab or CR gets an apostrophe) — label and JSON field names become column
  names, so the header is as untrusted as the cells;
- columns declared ``numbers`` keep plain numbers as numbers ("-1.5" is a number, not a
  formula); anything else in them (``+Inf``) is neutralised like text;
- rows end with CRLF (RFC 4180). Python's csv quotes a cell holding any character of the line
  terminator, so with CRLF a cell holding a bare CR or LF is quoted; with "\n" alone a bare CR
  is written unquoted, a spreadsheet ends the row there and the rest of the cell becomes a new
  row whose first cell is never neutralised.

Redaction rules (``[[redact]]``) apply to text before it is written.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import pandas as pd

#: First characters a spreadsheet may treat as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_START)
#: RFC 4180 row end: with it the csv module quotes every cell holding CR or LF (see above).
LINE_END = "\r\n"
#: A sample value as ``sample_text`` writes a finite one: left as a number in a spreadsheet.
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|NaN")


def safe_cell(text: str) -> str:
    """Prefix a single quote to a cell a spreadsheet would run as a formula (OWASP)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def safe_cells(values) -> list:
    """``safe_cell`` over a sequence of texts (empty and missing stay as they are)."""
    # A comprehension on first characters: several times faster than a regex per cell.
    return [("'" + v) if v and v[0] in _FORMULA_FIRST else v for v in values]


def apply_redaction(value, rules):
    """Replace every match of each rule's ``pattern`` by its ``replacement`` (text or Series).

    ``rules`` are ``config.redact`` entries (``.pattern``, ``.replacement``) or
    ``(pattern, replacement)`` pairs; replacements may use ``\\1`` group references.
    """
    for pattern, replacement in rule_pairs(rules):
        rx = compiled_rule(pattern)
        if isinstance(value, pd.Series):
            value = value.str.replace(rx, replacement, regex=True)
        elif isinstance(value, str):
            value = rx.sub(replacement, value)
    return value


def rule_pairs(rules) -> Iterator[tuple[str, str]]:
    """(pattern, replacement) of each redaction rule, whatever form the rules come in."""
    for rule in rules or ():
        if isinstance(rule, (tuple, list)):
            yield rule[0], rule[1]
        elif isinstance(rule, dict):
            yield rule["pattern"], rule.get("replacement", "[REDACTED]")
        else:
            yield rule.pattern, getattr(rule, "replacement", "[REDACTED]")


@lru_cache(maxsize=256)
def compiled_rule(pattern: str) -> re.Pattern:
    """A redaction pattern compiled once; ValueError names a bad one."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"redaction pattern {pattern!r} is not a valid regex: {exc}") from None


def sample_text(values: np.ndarray) -> list[str]:
    """Sample values as Prometheus writes them: shortest exact text, NaN, +Inf, -Inf."""
    out = []
    for v in values.tolist():
        if math.isnan(v):
            out.append("NaN")
        elif math.isinf(v):
            out.append("+Inf" if v > 0 else "-Inf")
        else:
            out.append(repr(v))
    return out


def metric_frame_csv(frame: pd.DataFrame) -> str:
    """A metric frame as CSV: timestamp (ISO-8601 UTC), series, one column per label, value."""
    labels = [c for c in frame.columns if c not in ("timestamp", "series", "value")]
    ts = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, -3) + "Z"
    columns = {"timestamp": ts, "series": frame["series"], **{c: frame[c] for c in labels},
               "value": sample_text(frame["value"].to_numpy(dtype=np.float64))}
    return write_csv(columns, numbers=("value",))


# --- the writer --------------------------------------------------------------------------------

def write_csv(columns, out=None, *, header: bool = True, numbers=()) -> str | None:
    """The one CSV writer: neutralised cells and names, CRLF rows; text, or None into ``out``.

    ``columns`` maps each name to its cells (a DataFrame, or a dict of Series, arrays or
    lists); missing values are written as empty cells.
    """
    names = [str(n) for n in columns]
    cells = {i: _safe_cells(columns[n], n in numbers) for i, n in enumerate(columns)}
    frame = pd.DataFrame(cells, columns=range(len(names)), dtype=object)
    return frame.to_csv(out, index=False, header=safe_cells(names) if header else False,
                        lineterminator=LINE_END)


def rewrite_csv(frame: pd.DataFrame, out) -> None:
    """Rows read back from ``write_csv``'s own output (the streamed export pads a page with
    columns found later), written again in the same dialect: already neutralised on the way
    in, so not scanned twice."""
    frame.to_csv(out, index=False, header=False, lineterminator=LINE_END)


def header_row(names) -> str:
    """The header line alone, neutralised and quoted like ``write_csv``'s."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_END).writerow(safe_cells([str(n) for n in names]))
    return buffer.getvalue()


def _safe_cells(values, numbers: bool) -> np.ndarray | list:
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        # Few distinct values (labels): neutralise each once, not once per row.
        texts = [*map(str, values.cat.categories), ""]
        safe = np.array(_number_cells(texts) if numbers else safe_cells(texts), dtype=object)
        return safe[values.cat.codes.to_numpy()]
    # Fixed-width text (formatted times): one vectorised look at the first characters.
    if (isinstance(values, np.ndarray) and values.dtype.kind == "U" and not numbers
            and not np.isin(values.astype("U1"), FORMULA_START).any()):
        return values
    if not isinstance(values, pd.Series):
        values = pd.Series(values, dtype=object)
    values = values.to_numpy(dtype=object, na_value="")
    if numbers:
        return _number_cells([v if isinstance(v, str) else str(v) for v in values])
    # One pass, the usual cell (text, not formula-like) costing one test: the export's speed.
    return [v if v.__class__ is str and not (v and v[0] in _FORMULA_FIRST) else _safe_any(v)
            for v in values]


def _safe_any(value) -> str:
    return safe_cell(value if isinstance(value, str) else str(value))


def _number_cells(texts) -> list:
    """Plain numbers stay numbers; anything else in a number column is neutralised as text."""
    return [v if _NUMBER.fullmatch(v) else safe_cell(v) for v in texts]
