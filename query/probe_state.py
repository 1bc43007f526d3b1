"""A probe result's state and certificate age, read the same way everywhere.

``state`` and ``cert_days`` arrive on ``ProbeResult`` with the probes' retries, maintenance
windows and TLS checks; a result without them (an older round, a stand-in) is read as
``"up"``/``"down"`` from ``up`` and no certificate.
"""

from __future__ import annotations

#: every state a probe may report; "down" is the one an incident is made of
STATES = ("up", "pending", "down", "maintenance", "degraded")
FAILING = "down"
#: a certificate closer to its end than this many days is flagged on its card
CERT_WARN_DAYS = 14


def state(result) -> str:
    """The result's state; ``up``/``down`` from ``up`` when it has none."""
    value = getattr(result, "state", None)
    return value if value in STATES else ("up" if result.up else "down")


def cert_days(result) -> float | None:
    """Days until the service's TLS certificate expires; None when not checked."""
    value = getattr(result, "cert_days", None)
    return float(value) if isinstance(value, (int, float)) else None
