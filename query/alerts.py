"""The alert list: Prometheus' and Alertmanager's alerts merged into one row per alert.

Prometheus sends its firing alerts to Alertmanager, so the same alert arrives from both. An
alert is its label set (what Alertmanager fingerprints), so rows with equal label sets are one
alert, with both sources named. Alertmanager alone knows whether an alert is silenced or
inhibited; Prometheus alone knows pending alerts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import pandas as pd

from query.timerange import parse_duration

ACTIVE = ("firing", "pending")
#: the filterable states, in the order the list shows them
STATES = ("firing", "pending", "inhibited", "silenced")
#: when two sources disagree, the one that says more wins: a firing alert Alertmanager
#: silenced is silenced; a pending one it already holds (sent before) is firing
_PRECEDENCE = {"silenced": 0, "inhibited": 1, "firing": 2, "pending": 3}
COLUMNS = ("key", "alertname", "state", "severity", "active_at", "summary", "labels",
           "label_set", "annotations", "runbook_url", "dashboard_url", "sources",
           "silenced_by", "inhibited_by")


def fingerprint(labels: Mapping[str, str]) -> str:
    """A short stable id of a label set (the same labels in any order give the same id)."""
    text = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def merge(prometheus: pd.DataFrame | None, alertmanager: pd.DataFrame | None
          ) -> pd.DataFrame | None:
    """One row per alert (``COLUMNS``) from the two sources' frames; None when neither
    answered. Prometheus' inactive rows are left out; firing first, then pending, inhibited,
    silenced, each by name and age."""
    if prometheus is None and alertmanager is None:
        return None
    merged: dict[str, dict] = {}
    for source, frame in (("prometheus", prometheus), ("alertmanager", alertmanager)):
        for row in ([] if frame is None else frame.to_dict("records")):
            state = source_state(row, source)
            if state is not None:
                _add(merged, row, state, source)
    frame = pd.DataFrame(list(merged.values()), columns=list(COLUMNS))
    frame["active_at"] = pd.to_datetime(frame["active_at"], utc=True)
    order = frame["state"].map({s: i for i, s in enumerate(STATES)})
    return frame.assign(_o=order).sort_values(["_o", "alertname", "active_at", "key"]) \
        .drop(columns="_o").reset_index(drop=True)


def source_state(row: Mapping, source: str) -> str | None:
    """The state one source gives an alert row (None: not an active alert)."""
    if source == "prometheus":
        return row["state"] if row["state"] in ACTIVE else None
    if row["state"] != "suppressed":
        return "firing"  # Alertmanager's "active" and "unprocessed" alerts both fire
    return "silenced" if row.get("silenced_by") or not row.get("inhibited_by") else "inhibited"


def _add(merged: dict[str, dict], row: Mapping, state: str, source: str) -> None:
    labels = dict(row["label_set"])
    key = fingerprint(labels)
    annotations = dict(row.get("annotations") or {})
    found = merged.get(key)
    if found is None:
        merged[key] = {
            "key": key, "alertname": row["alertname"], "state": state,
            "severity": row["severity"], "active_at": row["active_at"],
            "summary": row["summary"], "labels": row["labels"], "label_set": labels,
            "annotations": annotations, "sources": (source,),
            "runbook_url": safe_url(annotations.get("runbook_url")),
            "dashboard_url": safe_url(annotations.get("dashboard_url")),
            "silenced_by": tuple(row.get("silenced_by") or ()),
            "inhibited_by": tuple(row.get("inhibited_by") or ())}
        return
    if _PRECEDENCE[state] < _PRECEDENCE[found["state"]]:
        found["state"] = state
    found["sources"] += (source,)
    found["active_at"] = _earliest(found["active_at"], row["active_at"])
    found["summary"] = found["summary"] or row["summary"]
    found["annotations"] = {**annotations, **found["annotations"]}
    for link in ("runbook_url", "dashboard_url"):
        found[link] = found[link] or safe_url(annotations.get(link))
    for ids in ("silenced_by", "inhibited_by"):
        found[ids] = found[ids] + tuple(row.get(ids) or ())


def _earliest(a, b):
    if a is None or a != a:  # None or NaT
        return b
    if b is None or b != b:
        return a
    return min(a, b)


def safe_url(text) -> str | None:
    """``text`` when it is an http(s) URL with a host (fit for a link), else None: an
    annotation is whatever a rule author wrote, and ``javascript:`` must never be a link."""
    if not isinstance(text, str) or not text.strip():
        return None
    parts = urlsplit(text.strip())
    return text.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def counts(frame: pd.DataFrame) -> dict[str, int]:
    """Alerts per state (each alert once), every state in ``STATES`` present."""
    found = frame["state"].value_counts()
    return {state: int(found.get(state, 0)) for state in STATES}


def label_filter(text: str) -> tuple[str, str] | None:
    """``name=value`` → (name, value); any other non-blank text → ("", text) (a substring
    of the alert's name or labels); blank → None."""
    text = (text or "").strip()
    if not text:
        return None
    name, eq, value = text.partition("=")
    if eq and name.strip():
        return name.strip(), value.strip().strip('"')
    return "", text


def select(frame: pd.DataFrame, states: Iterable[str] = (), severities: Iterable[str] = (),
           label: str = "") -> pd.DataFrame:
    """The alerts in any of ``states`` and ``severities`` (empty: all) matching ``label``."""
    keep = pd.Series(True, index=frame.index)
    states, severities = list(states or ()), list(severities or ())
    if states:
        keep &= frame["state"].isin(states)
    if severities:
        keep &= frame["severity"].isin(severities)
    wanted = label_filter(label)
    if wanted is not None:
        name, value = wanted
        if name:
            keep &= frame["label_set"].map(lambda labels: labels.get(name) == value)
        else:
            needle = value.lower()
            keep &= (frame["alertname"].str.lower().str.contains(needle, regex=False)
                     | frame["labels"].str.lower().str.contains(needle, regex=False))
    return frame[keep]


def groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(alertname, its alerts) in the frame's order of first appearance."""
    names = list(dict.fromkeys(frame["alertname"]))
    return [(name, frame[frame["alertname"] == name]) for name in names]


def find(frame: pd.DataFrame | None, key: str) -> Mapping | None:
    """The alert with fingerprint ``key`` as a dict, or None."""
    if frame is None:
        return None
    rows = frame[frame["key"] == key]
    return None if rows.empty else rows.iloc[0].to_dict()


def label_chips(labels: Mapping[str, str], skip: Sequence[str] = ("alertname",)
                ) -> list[str]:
    """``name=value`` texts of a label set, sorted, without ``skip``."""
    return [f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip]


#: the silence lengths offered; "custom" takes a duration typed by the operator
SILENCE_CHOICES = ("1h", "2h", "4h", "8h", "1d", "7d", "custom")
SILENCE_MIN, SILENCE_MAX = 60.0, 90 * 86400.0
COMMENT_MAX = 500


def silence_seconds(choice: str, custom: str = "") -> float:
    """The silence length chosen, in seconds; ValueError with a message for the operator."""
    text = (custom or "").strip() if choice == "custom" else (choice or "")
    if choice not in SILENCE_CHOICES:
        raise ValueError(f"unknown duration {choice!r}")
    seconds = parse_duration(text)
    if not SILENCE_MIN <= seconds <= SILENCE_MAX:
        raise ValueError(f"a silence lasts 1m to 90d, not {text}")
    return seconds


def silence_comment(text: str | None) -> str:
    """The comment, trimmed; Alertmanager refuses an empty one, so say so first."""
    text = (text or "").strip()
    if not text:
        raise ValueError("a comment is required: say why the alert is silenced")
    if len(text) > COMMENT_MAX:
        raise ValueError(f"the comment is longer than {COMMENT_MAX} characters")
    return text


def active_silences(frame: pd.DataFrame) -> pd.DataFrame:
    """The silences in force or yet to start (Alertmanager keeps expired ones for a while)."""
    return frame[frame["state"].isin(("active", "pending"))].reset_index(drop=True)


MAX_FILTER_VALUES, MAX_FILTER_TEXT = 20, 200


def filters(states, severities, label) -> dict:
    """``select``'s keywords from what a browser sent: known states only, at most
    ``MAX_FILTER_VALUES`` severities of ``MAX_FILTER_TEXT`` characters, a bounded label text;
    anything of the wrong type is no filter."""
    def texts(values) -> list[str]:
        if not isinstance(values, list):
            return []
        return [v[:MAX_FILTER_TEXT] for v in values[:MAX_FILTER_VALUES] if isinstance(v, str)]

    return {"states": [s for s in texts(states) if s in STATES],
            "severities": texts(severities),
            "label": label[:MAX_FILTER_TEXT] if isinstance(label, str) else ""}


def severities_of(frames: Iterable[pd.DataFrame | None]) -> list[str]:
    """The severities present in any of ``frames``, for the filter's choices."""
    return sorted({s for f in frames if f is not None for s in f["severity"] if s})
