"""The badge saying the shared cache (Redis) cannot be reached, so calls go straight through."""

from __future__ import annotations

import dash_bootstrap_components as dbc


def shared_cache_badge(problem: str | None):
    """A warning badge with ``Cache.degraded()``'s reason (no password in it), or None."""
    if not problem:
        return None
    return dbc.Badge(f"{problem}: every replica asks the upstreams itself until it is back",
                     color="warning", text_color="dark", className="shared-cache-badge")
