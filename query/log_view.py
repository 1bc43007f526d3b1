"""What a Loki frame becomes in the Logs tab: table rows, extra columns, volume bars.

Pure pandas over the frames ``datasources.loki`` returns; the layout only draws the result.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from query.csv_safe import apply_redaction
from query.levels import rank
from query.logql import matchers

#: Labels that name the emitting service, most specific first.
SERVICE_LABELS = ("service_name", "service", "app", "job", "container", "compose_service")
# Row keys the table derives; "@" keeps them apart from any label or field name.
TIME, SERVICE, MESSAGE = "@time", "@service", "@message"
#: A row's stable id (the grid keeps the reader's place by it) and its exact time in ns,
#: as text: JavaScript numbers hold 53 bits, a nanosecond epoch needs 61.
ROW_ID, NS = "@id", "@ns"
# A decimal as JSON writes numbers, without leading zeros (ids such as "007" or span ids
# of digits stay text) and with at most 15 integer digits, so an integer is exact in a
# float64 (JavaScript's number); fractions are as exact as the float that wrote them.
_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]+)?([eE][-+]?[0-9]{1,2})?")


def is_log_frame(frame: pd.DataFrame) -> bool:
    """Whether Loki answered with log lines (a metric query gives samples instead)."""
    return frame.attrs.get("result_type", "streams") == "streams" and "line" in frame.columns


def extra_columns(frame: pd.DataFrame) -> list[str]:
    """Label and field columns the user may add: stream labels, metadata, parsed, JSON, raw."""
    attrs = frame.attrs
    names = [*attrs.get("stream_labels", []), *attrs.get("structured_metadata", []),
             *attrs.get("parsed", []), *attrs.get("fields", []), "labels", "line"]
    return [n for n in dict.fromkeys(names) if n in frame.columns and n != "level"]


def time_text(timestamps: pd.Series) -> pd.Series:
    """UTC timestamps as 'YYYY-MM-DD HH:MM:SS.nnnnnnnnn' (exact, sorts as text)."""
    ns = timestamps.array.asi8
    seconds = timestamps.dt.floor("s").dt.strftime("%Y-%m-%d %H:%M:%S")
    return seconds + "." + pd.Series(ns % 1_000_000_000, index=timestamps.index).astype(
        str).str.zfill(9)


def service_of(frame: pd.DataFrame) -> pd.Series:
    """The emitting service: the first service-like label an entry has."""
    service = pd.Series(pd.NA, index=frame.index, dtype="str")
    for name in SERVICE_LABELS:
        if name in frame.columns:
            service = service.fillna(frame[name].astype("str"))
    return service.fillna("")


def message_of(frame: pd.DataFrame) -> pd.Series:
    """The JSON ``message`` field where the line has one, else the raw line."""
    line = frame["line"].astype("str")
    if "message" in frame.columns:
        return frame["message"].astype("str").fillna(line)
    return line


def redacted(frame: pd.DataFrame, rules) -> pd.DataFrame:
    """Every text cell through the export's redaction, so the view hides what the CSV hides."""
    if not rules or frame.empty:
        return frame
    out = frame.copy()
    for name in frame.columns:
        if name != "timestamp":
            out[name] = apply_redaction(frame[name].astype("str"), rules)
    out.attrs = dict(frame.attrs)
    return out


def row_data(frame: pd.DataFrame) -> list[dict]:
    """Grid rows: the derived columns plus every label and field (missing cells left out).

    Columns whose every value is a number (``numeric_columns``) carry numbers, so the grid
    sorts and filters them as numbers; each row has a stable ``ROW_ID`` and its ``NS``.
    """
    if frame.empty:
        return []
    view = pd.DataFrame({ROW_ID: row_ids(frame), NS: frame["timestamp"].array.asi8.astype(str),
                         TIME: time_text(frame["timestamp"]), "level": frame["level"],
                         SERVICE: service_of(frame), MESSAGE: message_of(frame)})
    numeric = set(numeric_columns(frame))
    for name in extra_columns(frame):
        text = frame[name].astype("str")
        view[name] = pd.to_numeric(text).astype(object) if name in numeric else text
    records = view.to_dict("records")
    # Missing labels/fields stay out of the row rather than showing as "nan".
    return [{k: v for k, v in r.items() if isinstance(v, str) or _finite(v)} for r in records]


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Extra columns whose values (where set) are all plain decimal numbers, and some set."""
    found = []
    for name in extra_columns(frame):
        if name in ("labels", "line"):
            continue
        values = frame[name].dropna().astype("str")
        if len(values) and bool(values.str.fullmatch(_NUMBER).all()):
            found.append(name)
    return found


def row_ids(frame: pd.DataFrame) -> pd.Series:
    """An id per entry that the same entry gets again in the next answer: its time, a hash of
    its stream and line, and which repeat it is (Loki may return an exact repeat twice)."""
    ns = frame["timestamp"].array.asi8
    keys = pd.DataFrame({"ns": ns, "labels": frame["labels"].astype("str"),
                         "line": frame["line"].astype("str")})
    digest = pd.util.hash_pandas_object(keys[["labels", "line"]], index=False).to_numpy()
    repeat = keys.groupby(["ns", "labels", "line"], sort=False).cumcount().to_numpy()
    return pd.Series([f"{t:x}-{h:x}-{r}" for t, h, r in zip(ns.tolist(), digest.tolist(),
                                                             repeat.tolist(), strict=True)],
                     index=frame.index)


def volume_bars(frame: pd.DataFrame | None) -> list[tuple[str, pd.Series, pd.Series]]:
    """(level, bucket starts, counts) per level, most severe first; [] for no data."""
    if frame is None or frame.empty:
        return []
    levels = frame["level"].astype("str").fillna("unknown")
    bars = []
    for level in sorted(set(levels), key=rank):
        part = frame[levels == level]
        # plotly draws with microseconds; flooring keeps it from warning about the rest
        bars.append((level, part["timestamp"].dt.floor("us"), part["value"]))
    return bars


def span_axis(span_ns: tuple[int, int]) -> list[pd.Timestamp]:
    """The x-axis range of a [start, end) span in ns, as plotly takes it."""
    return [pd.Timestamp(t, unit="ns").floor("us") for t in span_ns]


def volume_total(frame: pd.DataFrame | None) -> int | None:
    """Entries counted by the histogram over the whole range."""
    if frame is None:
        return None
    return int(frame["value"].fillna(0).sum()) if not frame.empty else 0


# --- row details ----------------------------------------------------------------------------

#: Kinds of a field in the details panel, and the filter each becomes: a stream label is a
#: selector matcher, a JSON field needs ``| json`` first, any other label filters as it is.
STREAM, JSON, LABEL = "stream", "json", "label"
_DERIVED = {ROW_ID, NS, TIME, SERVICE, MESSAGE, "labels", "line", "level"}


def flatten_json(line: str) -> dict[str, str]:
    """The fields Loki's ``| json`` extracts from ``line``: nested keys joined by ``_``,
    names made of ``[A-Za-z0-9_]``, values as text; {} when the line is not a JSON object."""
    try:
        record = json.loads(line) if line.lstrip().startswith("{") else None
    except ValueError:
        return {}
    return _flatten(record) if isinstance(record, dict) else {}


def _flatten(obj: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in obj.items():
        name = re.sub(r"[^A-Za-z0-9_]", "_", prefix + str(key))
        if isinstance(value, dict):
            out.update(_flatten(value, name + "_"))
        elif isinstance(value, list):
            continue  # Loki's json parser skips arrays too
        elif isinstance(value, str):
            out[name] = value
        else:
            out[name] = "" if value is None else json.dumps(value)
    return out


def pretty_json(line: str) -> str | None:
    """``line`` indented when it is a JSON object; None otherwise."""
    try:
        record = json.loads(line) if line.lstrip().startswith("{") else None
    except ValueError:
        return None
    return json.dumps(record, indent=2, ensure_ascii=False) if isinstance(record, dict) else None


def stream_labels(selector: str) -> dict[str, str]:
    """``{a="x", b="y"}`` (a row's ``labels``) → {a: x, b: y}; ValueError unless plain ``=``."""
    text = selector.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"not a stream selector: {text[:80]!r}")
    found = {}
    for name, op, quoted in matchers(text[1:-1]):
        if op != "=" or not quoted.startswith('"'):
            raise ValueError(f"not a stream's label set: {text[:80]!r}")
        found[name] = json.loads(quoted, strict=False)  # LogQL "…" escapes read as JSON
    return found


def details_fields(row: dict) -> list[tuple[str, str, str]]:
    """(kind, name, value) of every label and field of a grid row: stream labels, then the
    line's JSON fields, then other labels (structured metadata, parsed by the query)."""
    streams = stream_labels(str(row.get("labels", "{}")))
    fields = flatten_json(str(row.get("line", "")))
    seen = set(streams) | set(fields) | {"json_" + k for k in fields} | _DERIVED
    others = {k: _text(v) for k, v in row.items() if k not in seen and not k.startswith("@")}
    return ([(STREAM, k, v) for k, v in sorted(streams.items())]
            + [(JSON, k, v) for k, v in fields.items()]
            + [(LABEL, k, v) for k, v in sorted(others.items())])


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def context_rows(before: pd.DataFrame, after: pd.DataFrame) -> list[dict]:
    """The lines around an entry, oldest first: ``before`` (newest first) turned round, then
    ``after`` (oldest first, starting at the entry's own instant)."""
    rows = []
    for frame in (before.iloc[::-1], after):
        if len(frame):
            rows += [{ROW_ID: r[ROW_ID], TIME: r[TIME], "level": r["level"], "line": r["line"]}
                     for r in row_data(frame)]
    return list({r[ROW_ID]: r for r in rows}.values())
