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
  JSON ``level`` field, else a level word found in the line, else ``"unknown"``; always one of
  ``query.levels.LEVELS`` ("WARN", "wrn" and "warning" are all ``warning``).

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

Bodies are read strictly (``datasources.strict``): a missing ``data`` or ``result``, a label or
line that is not a string, a timestamp that is not nanosecond digits within pandas' range is
``BadResponse`` naming the field, never an empty frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain

import numpy as np
import orjson
import pandas as pd

from datasources.errors import BadResponse
from datasources.prometheus import SHADOWED_PREFIX, error_from_body, frame_from_result, notes_of
from datasources.strict import (
    label_set,
    loads,
    need_list,
    need_object,
    required_str,
    snippet,
    strings,
    wrong,
)
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
    data = loads(body, UPSTREAM)
    if not isinstance(data, dict):
        raise BadResponse(UPSTREAM, f"answer is not a JSON object: {snippet(data, 200)}")
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
    raise BadResponse(UPSTREAM, f"answer has no success status: {snippet(data, 200)}")


def frame_from_response(body: bytes | str | Mapping) -> pd.DataFrame:
    """A query or query_range body → a frame (log rows, or the long metric frame)."""
    data = checked(body)
    warnings = notes_of(data, UPSTREAM)
    if "data" in data:
        frame = _frame_for(need_object(data["data"], "answer's 'data' (a labels or series "
                                                     "answer?)", UPSTREAM))
    elif warnings:
        # Success with warnings and no data at all (recorded by Grafana): nothing to show, and
        # the warnings say why. Without a warning a missing 'data' is a broken answer.
        frame = empty_log_frame()
    else:
        raise BadResponse(UPSTREAM, "answer has no 'data'")
    frame.attrs["warnings"] = warnings + frame.attrs.pop("notes", [])
    return frame


def _frame_for(payload: Mapping) -> pd.DataFrame:
    result_type = payload.get("resultType")
    result = payload.get("result")
    if result_type == "streams":
        flags = payload.get("encodingFlags")
        flags = [] if flags is None else strings(flags, "encodingFlags", UPSTREAM)
        frame = streams_frame(need_list(result, "the streams' result", UPSTREAM),
                              CATEGORIZE_LABELS in flags)
    elif result_type in ("matrix", "vector", "scalar"):
        frame, notes = frame_from_result(result_type, result, upstream=UPSTREAM)
        frame.attrs["notes"] = notes
    elif result_type is None:
        raise BadResponse(UPSTREAM, "answer's data has no resultType")
    else:
        raise BadResponse(UPSTREAM, f"unknown resultType {snippet(result_type)}")
    frame.attrs["result_type"] = result_type
    return frame


def labels_from_response(body: bytes | str | Mapping) -> list[str]:
    """``/labels`` and ``/label/<name>/values`` → the list of strings (sorted as Loki sends)."""
    data = checked(body)
    # Loki leaves 'data' out when no label matched (omitempty): that one is empty.
    return list(strings(data["data"], "labels answer: 'data'", UPSTREAM)) if "data" in data \
        else []


def series_from_response(body: bytes | str | Mapping) -> list[dict[str, str]]:
    """``/series`` → one label set per stream."""
    data = checked(body)
    if "data" not in data:
        raise BadResponse(UPSTREAM, "series answer has no 'data'")
    found = need_list(data["data"], "series answer: 'data'", UPSTREAM)
    return [dict(label_set(x, f"series answer: label set {i}", UPSTREAM))
            for i, x in enumerate(found)]


def index_volume_from_response(body: bytes | str | Mapping) -> pd.DataFrame:
    """The querier's raw ``/index/volume`` shape ``{limit, volumes: [{name, volume}]}``."""
    data = parse_body(body)
    if "volumes" not in data:
        return frame_from_response(data)  # the documented Prometheus-vector shape
    names, counts = [], []
    for i, item in enumerate(need_list(data["volumes"], "volumes", UPSTREAM)):
        where = f"volume {i}"
        need_object(item, where, UPSTREAM)
        names.append(required_str(item, "name", where, UPSTREAM))
        count = item.get("volume")
        if type(count) is not int or not 0 <= count < 2**63:
            raise wrong(UPSTREAM, f"{where}: 'volume'", count, "a whole number of bytes")
        counts.append(count)
    return pd.DataFrame({"name": pd.Series(names, dtype="str"),
                         "volume": np.array(counts, dtype=np.int64)})


def ns_times(texts: list) -> np.ndarray:
    """Loki's nanosecond timestamp strings → int64, exactly; anything else is ``BadResponse``.

    Only ASCII digit strings that fit pandas' datetime64[ns] are taken: numpy's own reading
    would also accept " 12", "+12", "1_000" or Arabic-Indic digits, and wrap past int64.
    """
    if not texts:
        return np.empty(0, dtype=np.int64)
    if set(map(type, texts)) != {str}:
        bad = next(t for t in texts if type(t) is not str)
        raise wrong(UPSTREAM, "malformed stream entry: a timestamp", bad,
                    "a string of nanoseconds")
    joined = "".join(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    array = np.array(texts, dtype=str)
    ok = (lengths >= 1) & (lengths <= 19)
    if joined.isascii() and joined.isdigit() and ok.all():
        ok &= (lengths < 19) | (array <= _MAX_NS)
        if ok.all():
            return array.astype(np.int64)
    bad = next(t for t, good in zip(texts, ok, strict=True)
               if not (good and t.isascii() and t.isdigit()))
    raise BadResponse(UPSTREAM, f"malformed stream entry: timestamp {snippet(bad)} is not "
                                "nanoseconds within pandas' range (1970 to 2262)")


#: int64's largest value: the last nanosecond pandas' datetime64[ns] holds (2262-04-11).
_MAX_NS = str(2**63 - 1)


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
    label_sets, values = [], []
    for i, stream in enumerate(result):
        need_object(stream, f"stream {i}", UPSTREAM)
        label_sets.append(label_set(stream.get("stream"), f"stream {i}: labels", UPSTREAM))
        values.append(need_list(stream.get("values"), f"stream {i}: values", UPSTREAM))
    counts = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    entries = list(chain.from_iterable(values))
    # Whole-page checks at C speed (map/set), not a Python test per entry.
    if entries and (set(map(type, entries)) != {list} or not set(map(len, entries)) <= {2, 3}):
        raise BadResponse(UPSTREAM, "malformed stream entry: not [timestamp, line] or "
                                    "[timestamp, line, metadata]")
    ns = ns_times([e[0] for e in entries])
    lines = [e[1] for e in entries]
    if lines and set(map(type, lines)) != {str}:
        bad = next(line for line in lines if type(line) is not str)
        raise wrong(UPSTREAM, "malformed stream entry: a line", bad, "a string")
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
    where = "malformed stream entry: metadata"
    for row, entry in enumerate(entries):
        if len(entry) < 3:
            continue
        meta = entry[2]
        if type(meta) is not dict:  # the common case tested inline: this runs per entry
            need_object(meta, where, UPSTREAM)
        if not meta:
            continue
        if categorized or _looks_categorized(meta):
            if meta.keys() - _CATEGORIES:
                # The flat form under a categorize-labels answer would lose its labels.
                raise BadResponse(UPSTREAM, f"{where} has keys other than structuredMetadata "
                                            f"and parsed: {snippet(sorted(meta)[:5])}")
            groups = ((sm, meta.get("structuredMetadata")), (parsed, meta.get("parsed")))
        else:
            groups = ((sm, meta),)
        for target, found in groups:
            if found is not None:
                if type(found) is not dict:
                    need_object(found, where, UPSTREAM)
                for key, value in found.items():
                    target.setdefault(key, {})[row] = value
    # Every value a string: one pass at C speed over the page, not a test per entry.
    found = chain.from_iterable(rows.values() for rows in (*sm.values(), *parsed.values()))
    if not set(map(type, found)) <= {str}:
        bad = next(v for rows in (*sm.values(), *parsed.values()) for v in rows.values()
                   if type(v) is not str)
        raise wrong(UPSTREAM, f"{where}: a value", bad, "a string")
    return sm, parsed


_CATEGORIES = frozenset({"structuredMetadata", "parsed"})


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


def _text(value) -> str | None:
    if isinstance(value, (dict, list, bool)):
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            # Deeper than orjson writes (it reads deeper): the line column keeps it verbatim.
            return None
    return str(value)


def derive_level(label, detected, json_level, lines: pd.Series) -> pd.Series:
    """Label ``level``, else ``detected_level``, else JSON ``level``, else a word in the line;
    folded onto ``query.levels.LEVELS`` ("WARN", "wrn" → "warning") so the table, its filter
    and the histogram use one scale (the raw spelling stays in the line and ``json_level``)."""
    level = pd.Series(np.full(len(lines), None, dtype=object), dtype="str")
    for source in (label, detected, json_level):
        if source is not None:
            level = level.fillna(pd.Series(source, dtype="str").replace("", None))
    missing = np.flatnonzero(level.isna().to_numpy())
    if len(missing):
        search = LEVEL_IN_LINE.search
        found = [search(line) for line in lines.to_numpy(dtype=object)[missing]]
        level.iloc[missing] = [m.group(1) if m else "unknown" for m in found]
    # Few distinct spellings: fold each once, not once per entry.
    return level.map({raw: canonical_level(raw) for raw in level.unique()}).astype("str")
