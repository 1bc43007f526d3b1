"""Alertmanager's API v2: the alerts it holds (as the Prometheus alerts frame), its silences,
and the writes stackscope makes: create or expire a silence, post an alert.

Reads go through the cache; writes never do (a write answered from a cache did not happen).
After a write the cached alert and silence lists are fetched again, so the page shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

import orjson
import pandas as pd
import requests

from config import Upstream
from datasources.cache import Cache, Result, cache_key
from datasources.errors import BadResponse
from datasources.http import make_session, request, scrubbing
from datasources.prometheus import ALERT_COLUMNS, alert_frame, alert_row, utc_times
from datasources.strict import (
    loads,
    need_list,
    need_object,
    optional_str,
    required_str,
    strings,
)

#: ``silenced_by`` / ``inhibited_by``: the ids of the silences and alerts muting the alert
COLUMNS = (*ALERT_COLUMNS, "source", "silenced_by", "inhibited_by")
SILENCE_COLUMNS = ("id", "state", "matchers", "created_by", "comment", "starts_at", "ends_at")
#: Alertmanager only holds firing alerts; silenced or inhibited ones are "suppressed".
_STATES = {"active": "firing", "unprocessed": "firing", "suppressed": "suppressed"}


def alerts_from_response(body: bytes | str | list, *, upstream: str = "Alertmanager"
                         ) -> pd.DataFrame:
    """``/api/v2/alerts`` body → alertname, state, severity, active_at, summary, labels,
    value (always NaN here) and source (the generator URL: where the alert came from)."""
    alerts = body if isinstance(body, list) else loads(body, upstream)
    need_list(alerts, "the alerts answer", upstream)
    rows = [_row(alert, f"alert {i}", upstream) for i, alert in enumerate(alerts)]
    return alert_frame(rows, COLUMNS, upstream=upstream)


def _row(alert, where: str, upstream: str) -> tuple:
    need_object(alert, where, upstream)
    status = need_object(alert.get("status"), f"{where}: status", upstream)
    state = required_str(status, "state", f"{where}: status", upstream)
    return (*alert_row(alert.get("labels"), alert.get("annotations"),
                       _STATES.get(state, "unknown"), alert.get("startsAt"),
                       upstream=upstream, where=where),
            optional_str(alert, "generatorURL", where, upstream) or "",
            _ids(status, "silencedBy", where, upstream), _ids(status, "inhibitedBy", where,
                                                                upstream))


def _ids(status: Mapping, key: str, where: str, upstream: str) -> tuple[str, ...]:
    found = status.get(key)
    return () if found is None else tuple(strings(found, f"{where}: status.{key}", upstream))


def silences_from_response(body: bytes | str | list, *, upstream: str = "Alertmanager"
                           ) -> pd.DataFrame:
    """``/api/v2/silences`` body → one row per silence (``SILENCE_COLUMNS``), matchers as
    ``name="value"`` text (``=~`` for a regex, ``!=`` / ``!~`` for a negative one), the
    silences ending soonest first."""
    silences = body if isinstance(body, list) else loads(body, upstream)
    need_list(silences, "the silences answer", upstream)
    rows = [_silence_row(s, f"silence {i}", upstream) for i, s in enumerate(silences)]
    frame = pd.DataFrame(rows, columns=list(SILENCE_COLUMNS))
    for column in ("starts_at", "ends_at"):
        frame[column] = utc_times(frame[column], upstream)
    return frame.sort_values(["ends_at", "id"], kind="stable").reset_index(drop=True)


def _silence_row(silence, where: str, upstream: str) -> tuple:
    need_object(silence, where, upstream)
    status = need_object(silence.get("status"), f"{where}: status", upstream)
    matchers = need_list(silence.get("matchers"), f"{where}: matchers", upstream)
    return (required_str(silence, "id", where, upstream),
            required_str(status, "state", f"{where}: status", upstream),
            ", ".join(_matcher_text(m, f"{where}: matcher {i}", upstream)
                      for i, m in enumerate(matchers)),
            optional_str(silence, "createdBy", where, upstream) or "",
            optional_str(silence, "comment", where, upstream) or "",
            required_str(silence, "startsAt", where, upstream),
            required_str(silence, "endsAt", where, upstream))


def _matcher_text(matcher, where: str, upstream: str) -> str:
    need_object(matcher, where, upstream)
    name = required_str(matcher, "name", where, upstream)
    value = required_str(matcher, "value", where, upstream)
    regex, equal = matcher.get("isRegex", False), matcher.get("isEqual", True)
    if type(regex) is not bool or type(equal) is not bool:
        raise BadResponse(upstream, f"{where}: isRegex / isEqual are not true or false")
    op = {(False, True): "=", (True, True): "=~", (False, False): "!=", (True, False): "!~"}
    return f"{name}{op[regex, equal]}{orjson.dumps(value).decode()}"


def silence_id_from_response(body: bytes | str, *, upstream: str = "Alertmanager") -> str:
    """The id in ``POST /api/v2/silences``' answer ``{"silenceID": "…"}``."""
    doc = need_object(loads(body, upstream), "the silence answer", upstream)
    return required_str(doc, "silenceID", "the silence answer", upstream)


def rfc3339(seconds: float) -> str:
    """Seconds since the epoch as the RFC 3339 UTC time Alertmanager reads."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def build_silence(labels: Mapping[str, str], start: float, end: float, created_by: str,
                  comment: str) -> dict:
    """The ``POST /api/v2/silences`` body muting exactly ``labels`` (equality matchers)."""
    matchers = [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in sorted(labels.items())]
    return {"matchers": matchers, "startsAt": rfc3339(start), "endsAt": rfc3339(end),
            "createdBy": created_by, "comment": comment}


def build_alert(labels: Mapping[str, str], annotations: Mapping[str, str], starts_at: float,
                ends_at: float | None = None) -> dict:
    """One alert of a ``POST /api/v2/alerts`` body; ``ends_at`` in the past resolves it."""
    alert = {"labels": dict(labels), "annotations": dict(annotations),
             "startsAt": rfc3339(starts_at)}
    if ends_at is not None:
        alert["endsAt"] = rfc3339(ends_at)
    return alert


def read_error(resp: requests.Response) -> tuple[str | None, str]:
    """Alertmanager's v2 errors are a JSON string or plain text: keep its words."""
    try:
        text = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        text = None
    if not isinstance(text, str):
        text = resp.text  # plain text, or JSON that is not a string: the body as it came
    return None, text.strip()[:2000] or f"HTTP {resp.status_code}"


class Alertmanager:
    """Reads alerts and silences through the cache; writes silences and alerts directly."""

    def __init__(self, upstream: Upstream, cache: Cache, session: requests.Session | None = None):
        self.upstream = upstream
        self.cache = cache
        self.session = session if session is not None else make_session(upstream)

    def alerts(self, force: bool = False, ttl: float | None = None) -> Result[pd.DataFrame]:
        """Every alert Alertmanager holds (firing and suppressed), firing first; ``ttl``
        overrides ``cache_ttl``."""
        key = cache_key("alertmanager", self.upstream.url, "/api/v2/alerts")
        return self.cache.get(key, self._fetch,
                              ttl=self.upstream.cache_ttl if ttl is None else ttl,
                              upstream=self.upstream.name, force=force,
                              wait=self.upstream.timeout)

    def silences(self, force: bool = False, ttl: float | None = None) -> Result[pd.DataFrame]:
        """Every silence Alertmanager holds (active, pending and recently expired)."""
        key = cache_key("alertmanager", self.upstream.url, "/api/v2/silences")
        return self.cache.get(key, lambda: self._get("/api/v2/silences", silences_from_response),
                              ttl=self.upstream.cache_ttl if ttl is None else ttl,
                              upstream=self.upstream.name, force=force,
                              wait=self.upstream.timeout)

    def create_silence(self, labels: Mapping[str, str], start: float, end: float,
                       created_by: str, comment: str) -> str:
        """Silence the alert with exactly ``labels`` from ``start`` to ``end``; its id."""
        body = build_silence(labels, start, end, created_by, comment)
        resp = self._send("POST", "/api/v2/silences", body)
        with scrubbing(self.upstream):
            silence_id = silence_id_from_response(resp.content, upstream=self.upstream.name)
        self.refresh()
        return silence_id

    def expire_silence(self, silence_id: str) -> None:
        """End the silence ``silence_id`` now."""
        self._send("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")
        self.refresh()

    def post_alerts(self, alerts: Sequence[Mapping]) -> None:
        """Send alerts (``build_alert``) to Alertmanager, as Prometheus does."""
        self._send("POST", "/api/v2/alerts", list(alerts))

    def refresh(self) -> None:
        """Fetch the alert and silence lists again, so every viewer sees a write at once."""
        self.alerts(force=True)
        self.silences(force=True)

    def _send(self, method: str, path: str, body=None) -> requests.Response:
        data = None if body is None else orjson.dumps(body)
        headers = None if body is None else {"Content-Type": "application/json"}
        return request(self.session, self.upstream, method, path, data=data, headers=headers,
                       read_error=read_error)

    def _fetch(self) -> pd.DataFrame:
        return self._get("/api/v2/alerts", alerts_from_response)

    def _get(self, path: str, parse) -> pd.DataFrame:
        resp = request(self.session, self.upstream, "GET", path, read_error=read_error)
        with scrubbing(self.upstream):
            return parse(resp.content, upstream=self.upstream.name)
