"""Service down/up notifications: a probed service that goes down becomes an Alertmanager alert.

Alertmanager routes the alert (e-mail, chat, pager) like any Prometheus alert. An alert is
posted when a service goes down and re-posted every ``repeat`` seconds while it stays down,
each with ``endsAt`` a few repeats ahead, as Prometheus does: if stackscope stops (or another
process takes over the probing), Alertmanager resolves the alert by itself when ``endsAt``
passes, instead of holding it forever or resolving it after its ``resolve_timeout`` while the
service is still down. When the service comes back, the alert is posted once more with
``endsAt`` = now: resolved.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from config import Service
from datasources.alertmanager import build_alert
from datasources.errors import DatasourceError
from datasources.probes import ProbeResult

log = logging.getLogger(__name__)

ALERTNAME = "StackscopeServiceDown"
DEFAULT_SEVERITY = "critical"
#: a firing alert's endsAt is this many repeats ahead (Prometheus uses 4 resend intervals)
ENDS_AFTER_REPEATS = 4


def alert_labels(result: ProbeResult, severity: str = DEFAULT_SEVERITY) -> dict[str, str]:
    """The label set of a service's down alert (its identity in Alertmanager)."""
    labels = {"alertname": ALERTNAME, "service": result.name, "severity": severity}
    if result.group:
        labels["group"] = result.group
    return labels


@dataclass(frozen=True)
class Notice:
    """One alert to post for ``service``: firing, or resolved (``firing`` false)."""

    service: str
    firing: bool
    alert: dict


def notifications(previous: Mapping[str, ProbeResult], current: Sequence[ProbeResult], *,
                  now: float, last_sent: Mapping[str, float], repeat: float,
                  severities: Mapping[str, str] | None = None) -> list[Notice]:
    """What to post after a round, given the previous round and when each service's firing
    alert was last posted.

    Down now and (up before, never posted, or posted ``repeat`` s ago or more): firing, with
    ``endsAt`` ``ENDS_AFTER_REPEATS`` repeats ahead. Up now and (down before, or a firing
    alert still posted for it): resolved, ``endsAt`` = now.
    """
    severities = severities or {}
    notices = []
    for result in current:
        labels = alert_labels(result, severities.get(result.name) or DEFAULT_SEVERITY)
        before = previous.get(result.name)
        if _down(result):
            sent = last_sent.get(result.name)
            if before is None or not _down(before) or sent is None or now - sent >= repeat:
                alert = build_alert(labels, _annotations(result), _since(before, result),
                                    now + ENDS_AFTER_REPEATS * repeat)
                notices.append(Notice(result.name, True, alert))
        elif (before is not None and _down(before)) or result.name in last_sent:
            notices.append(Notice(result.name, False,
                                  build_alert(labels, _annotations(result), now, now)))
    return notices


def _down(result: ProbeResult) -> bool:
    """Offline: not pending (retries left) nor in a maintenance window, whose probes notify
    nobody (a notified outage that enters one is resolved)."""
    return result.state == "down"


def _annotations(result: ProbeResult) -> dict[str, str]:
    state = result.state
    return {"summary": f"{result.name} is {state}: {result.detail}",
            "description": f"stackscope probe of {result.target} ({result.kind}): "
                           f"{result.detail}"}


def _since(before: ProbeResult | None, result: ProbeResult) -> float:
    # A re-post keeps the time it went down; Alertmanager keeps the first startsAt anyway.
    return result.checked_at if before is None or not _down(before) else min(
        before.checked_at, result.checked_at)


@dataclass
class Notifier:
    """A ``StatusSource`` listener: posts the round's ``notifications`` to Alertmanager.

    ``post`` sends a list of alerts (``Alertmanager.post_alerts``). Posting runs on one
    background thread, so a slow Alertmanager never holds up a probe round; a failed post is
    logged and retried on the next round.
    """

    post: Callable[[list[dict]], None]
    services: Sequence[Service] = ()
    repeat: float = 60.0
    now: Callable[[], float] = time.time
    background: bool = True
    _previous: dict[str, ProbeResult] = field(default_factory=dict)
    _last_sent: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = None

    def __call__(self, results: Sequence[ProbeResult]) -> None:
        """Called with each real probe round's results."""
        with self._lock:
            now = self.now()
            notices = notifications(self._previous, results, now=now,
                                    last_sent=self._last_sent, repeat=self.repeat,
                                    severities=self._severities())
            self._previous = {r.name: r for r in results}
            if notices and self.background and self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="stackscope-notify")
        if not notices:
            return
        if self._pool is None:
            self._send(notices, now)
        else:
            self._pool.submit(self._send, notices, now)

    def _severities(self) -> dict[str, str]:
        return {s.name: getattr(s, "severity", "") for s in self.services}

    def _send(self, notices: list[Notice], now: float) -> None:
        try:
            self.post([n.alert for n in notices])
        except DatasourceError as exc:
            # Nothing recorded: the next round posts the same again.
            log.warning("notifying Alertmanager failed: %s", exc.describe())
            return
        with self._lock:
            for notice in notices:
                if notice.firing:
                    self._last_sent[notice.service] = now
                else:
                    self._last_sent.pop(notice.service, None)
