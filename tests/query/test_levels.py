"""query/levels.py: every spelling on one scale."""

from __future__ import annotations

import pytest

from query.levels import LEVEL_IN_LINE, LEVELS, canonical_level, rank


@pytest.mark.parametrize(("raw", "level"), [
    ("WARN", "warning"), ("Warning", "warning"), ("err", "error"), ("ERROR", "error"),
    ("fatal", "critical"), ("crit", "critical"), ("dbug", "debug"), ("trace", "trace"),
    ("warn", "warning"), ("WARNING", "warning"), ("wrn", "warning"), ("CRIT", "critical"),
    ("dbg", "debug"), ("TRACE", "trace"), ("inf", "info"),
    (" info ", "info"), ("", "unknown"), (None, "unknown"), (3, "unknown"), ("loud", "unknown"),
])
def test_spellings_fold_onto_the_scale(raw, level):
    assert canonical_level(raw) == level


def test_rank_orders_most_severe_first_and_unknown_spellings_last():
    assert sorted(["info", "bogus", "critical", "warning"], key=rank) == [
        "critical", "warning", "info", "bogus"]
    assert rank("unknown") == len(LEVELS) - 1


@pytest.mark.parametrize(("line", "word"), [
    ("WRN disk almost full", "wrn"), ("[dbg] cache miss", "dbg"), ("level=warn msg=x", "warn"),
])
def test_short_spellings_are_found_in_plain_lines(line, word):
    assert LEVEL_IN_LINE.search(line).group(1).lower() == word
