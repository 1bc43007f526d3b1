"""Log levels: every spelling folded onto one scale, most severe first."""

from __future__ import annotations

import re

#: Canonical levels, most severe first (what the volume histogram and the colours use).
LEVELS = ("critical", "error", "warning", "info", "debug", "trace", "unknown")
_LEVEL_ALIASES = {
    "critical": "critical", "crit": "critical", "fatal": "critical", "panic": "critical",
    "emerg": "critical", "emergency": "critical", "alert": "critical",
    "error": "error", "err": "error", "eror": "error", "erro": "error",
    "warning": "warning", "warn": "warning", "wrn": "warning",
    "info": "info", "inf": "info", "information": "info", "informational": "info",
    "notice": "info",
    "debug": "debug", "dbug": "debug", "dbg": "debug", "trace": "trace", "trc": "trace",
}
LEVEL_IN_LINE = re.compile(
    r"(?i)\b(critical|crit|fatal|panic|emerg|error|err|warning|warn|wrn|info|notice|debug|dbug|"
    r"dbg|trace)\b")


def canonical_level(value) -> str:
    """Map a level spelling ("WARN", "Warning", "err" …) to one of ``LEVELS``."""
    if not isinstance(value, str) or not value:
        return "unknown"
    return _LEVEL_ALIASES.get(value.strip().lower(), "unknown")


def rank(level: str) -> int:
    """A level's place on the scale (most severe first); unknown spellings last."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)
