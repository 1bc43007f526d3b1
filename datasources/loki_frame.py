"""Pure framing of Loki HTTP API bodies into pandas frames (no I/O; tested on real bodies).

Log streams give one row per entry:

- ``timestamp``  datetime64[ns, UTC], parsed from Loki's nanosecond strings as int64 (never via
  float, which keeps only ~16 significant digits of a 19-digit timestamp);
- ``line``       the raw log line; ``labels`` the readable stream name ``{app="api", …}``;
- one categorical column per stream label, one string column per structured-metadata key and
  per parsed key (both the ``categorize-labels`` form ``[ts, line, {"structuredMetadata": …,
  "parsed": …}]`` and the older flat form ``[ts, line, {key: value}]``);
- for JSON lines (the backend's format) the fields in ``JSON_FIELDS`` as columns;
- ``level``      the ``level`` label when the entry has one, else ``detected_level``, else the
  JSON ``level`` field, else a level word found in the line, else ``"unknown"``.

Column names: a label (stream, structured metadata or parsed) keeps its name; a label called
``timestamp``, ``line`` or ``labels`` becomes ``label_<name>``. A structured-metadata or parsed
key equal to a stream label shares that column (the stream label wins where both are set). A
JSON field keeps its name unless a core column or a label already has it, in which case it is
``json_<name>`` (so the JSON ``timestamp`` and ``level`` are always ``json_timestamp`` and
``json_level``); a JSON field that the query already parsed into a label is not repeated.

``df.attrs`` carries ``result_type``, ``warnings`` and, for streams, the column groups
``stream_labels``, ``structured_metadata``, ``parsed`` and ``fields`` (in export order).
Metric results (matrix, vector, scalar) give exactly the Prometheus long frame: they are framed
by ``datasources.prometheus.frame_from_result`` (Loki answers metric queries in its shapes).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import orjson
import pandas as pd

from datasources.errors import BadResponse
from datasources.prometheus import SHADOWED_PREFIX, error_from_body, frame_from_result
from query.levels import LEVEL_IN_LINE, canonical_level
from query.logql import stream_name

UPSTREAM = "Loki"
CATEGORIZE_LABELS = "categorize-labels"
#: Fields of the backend's JSON log lines that become columns, in this order.
JSON_FIELDS = ("timestamp", "level", "logger", "message", "request_id", "user_id", "trace_id",
               "span_id")
#: Columns every log frame has; a label or JSON field of the same name is renamed.
LOG_CORE = ("timestamp", "line", "labels", "level")
JSON_PREFIX = "json_"
# --- bodies --------------------------------------------------------------------------------

def parse_body(body: bytes | str | Mapping) -> dict:
    """The JSON object of a body; ``BadResponse`` (with the start of the text) if it is not."""
    if isinstance(body, Mapping):
        return dict(body)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        raise BadResponse(UPSTREAM, f"answer is not JSON: {text.strip()[:200]!r}") from None
    if not isinstance(data, dict):
        raise BadResponse(UPSTREAM, f"answer is not a JSON object: {str(data)[:200]}")
    return data


def checked(body: bytes | str | Mapping) -> dict:
    """The parsed body when ``status`` is success; the error family with Loki's words if not."""
    data = parse_body(body)
    status = data.get("status")
    if status == "success":
        return data
    if status == "error" or "error" in data:
        # Loki's JSON errors have Prometheus' shape: a timeout is an outage, not a bad query.
        raise error_from_body(data, UPSTREAM)
    raise BadResponse(UPSTREAM, f"answer has no success status: {str(data)[:200]}")


def frame_from_response(body: bytes | str | Mapping) -> pd.DataFrame:
    """A query or query_range body → a frame (log rows, or the long metric frame)."""
    data = checked(body)
    warnings = [str(w) for w in data.get("warnings") or []]
    payload = data.get("data")
    if not payload:
        frame = empty_log_frame()
    elif isinstance(payload, Mapping):
        frame = _frame_for(payload)
    else:
        raise BadResponse(UPSTREAM, "answer's 'data' is a list (a labels or series answer?), "
                                    "not a query result")
    frame.attrs["warnings"] = warnings + frame.attrs.pop("notes", [])
    return frame


def _frame_for(payload: Mapping) -> pd.DataFrame:
    result_type = payload.get("resultType")
    result = payload.get("result")
    if result_type == "streams":
        frame = streams_frame(result or [], CATEGORIZE_LABELS in (payload.get("encodingFlags")
                                                                  or []))
    elif result_type in ("matrix", "vector", "scalar"):
        frame, notes = frame_from_result(result_type, result, upstream=UPSTREAM)
        frame.attrs["notes"] = notes
    else:
        raise BadResponse(UPSTREAM, f"unknown resultType {result_type!r}")
    frame.attrs["result_type"] = result_type
    return frame


def labels_from_response(body: bytes | str | Mapping) -> list[str]:
    """``/labels`` and ``/label/<name>/values`` → the list of strings (sorted as Loki sends)."""
    data = checked(body).get("data") or []
    if not isinstance(data, list):
        raise BadResponse(UPSTREAM, "labels answer: 'data' is not a list")
    return [str(x) for x in data]


def series_from_response(body: bytes | str | Mapping) -> list[dict[str, str]]:
    """``/series`` → one label set per stream."""
    data = checked(body).get("data") or []
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise BadResponse(UPSTREAM, "series answer: 'data' is not a list of label sets")
    return [dict(x) for x in data]


def index_volume_from_response(body: bytes | str | Mapping) -> pd.DataFrame:
    """The querier's raw ``/index/volume`` shape ``{limit, volumes: [{name, volume}]}``."""
    data = parse_body(body)
    volumes = data.get("volumes")
    if not isinstance(volumes, list):
        return frame_from_response(data)  # the documented Prometheus-vector shape
    return pd.DataFrame({"name": pd.Series([v["name"] for v in volumes], dtype="str"),
                         "volume": np.array([v["volume"] for v in volumes], dtype=np.int64)})


def utc_column(ns) -> pd.Series:
    """int64 nanoseconds → a datetime64[ns, UTC] column, exact to the nanosecond."""
    return pd.Series(np.asarray(ns, dtype=np.int64).view("M8[ns]")).dt.tz_localize("UTC")


# --- streams --------------------------------------------------------------------------------

def empty_log_frame() -> pd.DataFrame:
    """The zero-row log frame (for no data), with the core columns and their dtypes."""
    frame = pd.DataFrame({
        "timestamp": utc_column(np.empty(0, dtype=np.int64)),
        "line": pd.Series([], dtype="str"),
        "labels": pd.Categorical([]),
        "level": pd.Series([], dtype="str"),
    })
    frame.attrs.update(result_type="streams", stream_labels=[], structured_metadata=[],
                       parsed=[], fields=[])
    return frame


def streams_frame(result: list, categorized: bool = True) -> pd.DataFrame:
    """Frame a ``streams`` result: one row per entry, sorted by time (stable)."""
    if not result:
        return empty_log_frame()
    label_sets = [s.get("stream") or {} for s in result]
    values = [s.get("values") or [] for s in result]
    counts = np.array([len(v) for v in values], dtype=np.int64)
    entries = [e for v in values for e in v]
    try:
        ns = np.array([e[0] for e in entries], dtype=str).astype(np.int64)
        lines = [e[1] for e in entries]
    except (IndexError, TypeError, ValueError, KeyError) as exc:
        raise BadResponse(UPSTREAM, f"malformed stream entry: {exc}") from None
    owner = np.repeat(np.arange(len(label_sets)), counts)
    columns, groups = _label_columns(label_sets, owner, entries, categorized)
    frame = _assemble(ns, lines, label_sets, owner, columns, groups)
    return _sorted(frame)


def _label_columns(label_sets, owner, entries, categorized):
    """Stream labels (object arrays) plus structured-metadata and parsed columns."""
    columns: dict[str, np.ndarray] = {}
    stream_keys = sorted({k for labels in label_sets for k in labels})
    for key in stream_keys:
        per_stream = np.array([labels.get(key) for labels in label_sets], dtype=object)
        columns[key] = per_stream[owner]
    sm, parsed = _entry_metadata(entries, categorized)
    for key, found in (*sm.items(), *parsed.items()):
        column = columns.setdefault(key, np.full(len(entries), None, dtype=object))
        for row, value in found.items():
            if column[row] is None:
                column[row] = value
    groups = {"stream_labels": stream_keys,
              "structured_metadata": sorted(set(sm) - set(stream_keys)),
              "parsed": sorted(set(parsed) - set(stream_keys) - set(sm))}
    return columns, groups


def _entry_metadata(entries, categorized):
    """{key: {row: value}} for structured metadata and for parsed labels."""
    sm: dict[str, dict[int, str]] = {}
    parsed: dict[str, dict[int, str]] = {}
    for row, entry in enumerate(entries):
        if len(entry) < 3 or not entry[2]:
            continue
        meta = entry[2]
        if categorized or _looks_categorized(meta):
            groups = ((sm, meta.get("structuredMetadata")), (parsed, meta.get("parsed")))
        else:
            groups = ((sm, meta),)
        for target, found in groups:
            for key, value in (found or {}).items():
                target.setdefault(key, {})[row] = value
    return sm, parsed


def _looks_categorized(meta: Mapping) -> bool:
    # Without the encodingFlags echo, the categorized form is told apart by its two keys.
    return meta.keys() <= {"structuredMetadata", "parsed"} and all(
        isinstance(v, dict) for v in meta.values())


def _assemble(ns, lines, label_sets, owner, columns, groups) -> pd.DataFrame:
    rename = {k: SHADOWED_PREFIX + k for k in columns if k in LOG_CORE[:3]}
    names = np.array([stream_name(labels) for labels in label_sets], dtype=object)
    line_col = pd.Series(lines, dtype="str")
    fields = json_fields(lines, taken=set(LOG_CORE) | {rename.get(k, k) for k in columns},
                         parsed=set(groups["parsed"]))
    data = {"timestamp": utc_column(ns), "line": line_col,
            "labels": pd.Categorical(names[owner])}
    for key in groups["stream_labels"]:
        data[rename.get(key, key)] = pd.Categorical(columns[key])
    for key in (*groups["structured_metadata"], *groups["parsed"]):
        data[rename.get(key, key)] = pd.Series(columns[key], dtype="str")
    data.update(fields)
    data["level"] = derive_level(columns.get("level"), columns.get("detected_level"),
                                 fields.get(JSON_PREFIX + "level"), line_col)
    frame = pd.DataFrame(data)
    frame.attrs.update(result_type="streams", fields=list(fields),
                       **{g: [rename.get(k, k) for k in keys] for g, keys in groups.items()})
    return frame


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    ns = frame["timestamp"].array.asi8
    if len(ns) < 2 or bool(np.all(ns[1:] >= ns[:-1])):
        return frame
    attrs = frame.attrs
    out = frame.take(np.argsort(ns, kind="stable")).reset_index(drop=True)
    out.attrs = attrs
    return out


# --- fields and level ------------------------------------------------------------------------

def json_fields(lines: list[str], taken: set[str], parsed: set[str]) -> dict[str, pd.Series]:
    """The backend's JSON fields as string columns (absent when no line has them)."""
    rows = [i for i, line in enumerate(lines) if line.startswith("{")]
    records = _json_records([lines[i] for i in rows])
    columns = {}
    for field in (f for f in JSON_FIELDS if f not in parsed):
        values = [r.get(field) for r in records]
        if all(v is None for v in values):
            continue
        column = np.full(len(lines), None, dtype=object)
        column[rows] = [v if v is None or isinstance(v, str) else _text(v) for v in values]
        columns[JSON_PREFIX + field if field in taken else field] = pd.Series(column,
                                                                             dtype="str")
    return columns


def _json_records(texts: list[str]) -> list[dict]:
    """Each text as a dict ({} when it is not a JSON object): one parse for the whole page."""
    try:
        records = orjson.loads("[" + ",".join(texts) + "]")
        if len(records) == len(texts):
            return [r if isinstance(r, dict) else {} for r in records]
    except orjson.JSONDecodeError:
        pass
    return [_one_record(t) for t in texts]  # some line is not JSON after all: one by one


def _one_record(text: str) -> dict:
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def _text(value) -> str:
    if isinstance(value, (dict, list, bool)):
        return orjson.dumps(value).decode()
    return str(value)


def derive_level(label, detected, json_level, lines: pd.Series) -> pd.Series:
    """Label ``level``, else ``detected_level``, else JSON ``level``, else a word in the line."""
    level = pd.Series(np.full(len(lines), None, dtype=object), dtype="str")
    for source in (label, detected, json_level):
        if source is not None:
            level = level.fillna(pd.Series(source, dtype="str").replace("", None))
    missing = np.flatnonzero(level.isna().to_numpy())
    if len(missing):
        search = LEVEL_IN_LINE.search
        found = [search(line) for line in lines.to_numpy(dtype=object)[missing]]
        level.iloc[missing] = [canonical_level(m.group(1)) if m else "unknown" for m in found]
    return level
