"""The Metrics tab's job and instance variables: several values each, as the browser and the
URL send them, bounded here.

A variable's value arrives as None (all), one text (a link from before several values could be
chosen, or a forged value) or a list of texts (the multi-select dropdown). The URL repeats the
key once per value (``metrics.job=api&metrics.job=node``), so an old single-value link reads
the same. ``query.panels.regex_value`` turns the chosen values into one escaped RE2
alternation for ``$job`` / ``$instance``.
"""

from __future__ import annotations

from collections.abc import Iterable

from query.limits import Rejected, text

#: values one variable may hold: each is a regex alternative in every panel's query, and the
#: URL keeps them all (``range_state.url_values`` reads at most 100 fields)
MAX_CHOSEN = 40


def chosen(value, what: str) -> list[str]:
    """The values the browser sent for a variable, deduplicated, order kept; [] means all.

    More than ``MAX_CHOSEN`` values, or anything but None, text or a list of texts, is
    ``Rejected`` (HTTP 400)."""
    if value is None:
        return []
    if isinstance(value, str):
        values = [text(value, what)]
    elif isinstance(value, list):
        if len(value) > MAX_CHOSEN:
            raise Rejected(f"{what}: {len(value):,} values chosen, at most {MAX_CHOSEN} "
                           "may be")
        values = [text(v, what) for v in value]
    else:
        raise Rejected(f"{what}: expected text or a list of texts, got {type(value).__name__}")
    return _distinct(v for v in values if v)


def from_url(values: Iterable[str]) -> list[str]:
    """A variable's values as a URL gave them (its key repeated, or once for old links);
    more than ``MAX_CHOSEN`` are ``Rejected``."""
    return chosen(list(values), "URL variable")


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
