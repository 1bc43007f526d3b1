"""CSV that is safe to open in a spreadsheet: cells, redaction, and a metric panel's frame.

Text cells pass through ``safe_cell`` (OWASP "CSV injection": a leading = + - @, tab or CR gets
an apostrophe). Finite numbers stay numbers ("-1.5" is a number, not a formula). Redaction
rules (``[[redact]]``) apply to text before it is neutralised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import pandas as pd

#: First characters a spreadsheet may treat as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_START)


def safe_cell(text: str) -> str:
    """Prefix a single quote to a cell a spreadsheet would run as a formula (OWASP)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def neutralise(column: pd.Series) -> pd.Series:
    """``safe_cell`` over a string column (missing values stay missing)."""
    values = column.to_numpy(dtype=object, na_value=None)
    return pd.Series(safe_cells(values), index=column.index, dtype="str")


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
    """Sample values as Prometheus writes them: shortest exact text, NaN, '+Inf, '-Inf."""
    out = []
    for v in values.tolist():
        if math.isnan(v):
            out.append("NaN")
        elif math.isinf(v):
            out.append(safe_cell("+Inf" if v > 0 else "-Inf"))
        else:
            out.append(repr(v))
    return out


def metric_frame_csv(frame: pd.DataFrame) -> str:
    """A metric frame as CSV: timestamp (ISO-8601 UTC), series, one column per label, value."""
    labels = [c for c in frame.columns if c not in ("timestamp", "series", "value")]
    ts = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, -3) + "Z"
    out = pd.DataFrame({"timestamp": ts}, copy=False)
    out["series"] = _safe_column(frame["series"])
    for c in labels:
        out[c] = _safe_column(frame[c])
    out["value"] = sample_text(frame["value"].to_numpy(dtype=np.float64))
    return out.to_csv(index=False, lineterminator="\n")


def _safe_column(column: pd.Series) -> pd.Series:
    # Categorical columns hold few distinct values: neutralise each once, not once per row.
    if isinstance(column.dtype, pd.CategoricalDtype):
        texts = np.array([safe_cell(c) for c in column.cat.categories] + [""], dtype=object)
        return pd.Series(texts[column.cat.codes.to_numpy()], index=column.index)
    return column.map(safe_cell)
