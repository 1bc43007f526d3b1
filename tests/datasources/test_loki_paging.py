"""Whole-range paging: every entry exactly once, whatever the page boundaries cut."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from config import Upstream
from datasources.cache import Cache
from datasources.errors import QueryError
from datasources.loki import Loki
from query.logql import stream_name

# The Loki double's fixtures (loki_double, make_loki_double).

T0 = 1_714_564_800 * 10**9
STREAMS = [{"app": "api", "pod": f"api-{i}"} for i in range(4)] + [{"app": "worker"}]


def make_loki(double, tmp_path) -> Loki:
    return Loki(Upstream("Loki", double.url, 10.0, 30.0), Cache(tmp_path / "cache"))


def clustered_entries(n: int, seed: int = 7) -> list[tuple]:
    """``n`` entries over five streams in clusters of 1–40 equal timestamps, plus hard cases."""
    rng = random.Random(seed)
    entries, t = [], T0
    while len(entries) < n:
        for _ in range(rng.randint(1, 40)):
            stream = rng.choice(STREAMS)
            entries.append((t, stream, f"line {len(entries)} of {stream['app']}"))
        t += rng.randint(1, 3_000)
    t += 1_000
    for i in range(2_600):  # one instant bigger than any page, over every stream
        entries.append((t, STREAMS[i % 5], f"burst {i}"))
    for stream in STREAMS[:2]:  # the same line from two streams at one instant
        entries.append((t + 7, stream, "same line, two streams"))
    entries.append((t + 9, STREAMS[0], "exact repeat"))
    entries.append((t + 9, STREAMS[0], "exact repeat"))
    return entries


def keys(pages) -> Counter:
    return Counter((ts, labels, line) for page in pages for ts, labels, line in zip(
        page["timestamp"].array.asi8.tolist(), page["labels"], page["line"], strict=True))


def expected(entries, keep=lambda line: True) -> Counter:
    return Counter((t, stream_name(labels), line) for t, labels, line in entries if keep(line))


def times(pages) -> list[int]:
    return [t for page in pages for t in page["timestamp"].array.asi8.tolist()]


@pytest.fixture(scope="module")
def big_set():
    return clustered_entries(20_000)


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("shuffle_ties", [False, True], ids=["hash-ties", "shuffled-ties"])
def test_every_entry_exactly_once_across_clustered_page_boundaries(
        direction, shuffle_ties, big_set, make_loki_double, tmp_path):
    double = make_loki_double(big_set, shuffle_ties=shuffle_ties)
    end = max(t for t, _, _ in big_set) + 1
    pages = list(make_loki(double, tmp_path).query_range_all(
        '{app=~".+"}', T0, end, direction=direction, page_size=1_000))
    assert keys(pages) == expected(big_set)
    assert sum(len(p) for p in pages) == len(big_set) > 20_000
    ordered = times(pages)
    assert ordered == sorted(ordered, reverse=direction == "backward")
    assert max(len(p) for p in pages) <= 2_600 + 2


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_a_pipeline_query_pages_only_its_matches(direction, big_set, make_loki_double, tmp_path):
    double = make_loki_double(big_set)
    end = max(t for t, _, _ in big_set) + 1
    pages = make_loki(double, tmp_path).query_range_all(
        '{app="api"} |~ "[02468] of|burst|same"', T0, end, direction=direction,
        page_size=700)
    api = [e for e in big_set if e[1]["app"] == "api"]
    assert keys(pages) == expected(
        api, lambda line: any(s in line for s in ("0 of", "2 of", "4 of", "6 of", "8 of",
                                                  "burst", "same")))


@pytest.mark.parametrize("seed", range(8))
def test_same_line_from_two_streams_at_the_boundary_is_kept_twice(
        seed, make_loki_double, tmp_path):
    # Loki promises no order among entries of one instant: shuffled here on every request, so
    # only a comparison of timestamp, labels and line finds which "same" was already yielded.
    entries = [(T0, STREAMS[0], "a"), (T0, STREAMS[1], "b"),
               (T0 + 5, STREAMS[0], "same"), (T0 + 5, STREAMS[1], "same"),
               (T0 + 9, STREAMS[2], "c")]
    double = make_loki_double(entries, shuffle_ties=True, seed=seed)
    pages = list(make_loki(double, tmp_path).query_range_all('{app="api"}', T0, T0 + 10,
                                                             page_size=3))
    assert keys(pages) == expected(entries)
    assert [len(p) for p in pages] == [3, 2]  # the page boundary fell inside T0 + 5


def test_end_is_exclusive_and_start_inclusive(make_loki_double, tmp_path):
    entries = [(T0 + i, STREAMS[0], f"l{i}") for i in range(10)]
    double = make_loki_double(entries)
    pages = make_loki(double, tmp_path).query_range_all('{app="api"}', T0 + 2, T0 + 7,
                                                        page_size=2)
    assert sorted(keys(pages)) == sorted(expected(entries[2:7]))


def test_an_instant_larger_than_the_server_limit_is_split_by_stream(make_loki_double, tmp_path):
    entries = [(T0, STREAMS[i % 4], f"storm {i}") for i in range(3_000)]
    entries += [(T0 + 1, STREAMS[4], "after")]
    double = make_loki_double(entries, max_entries=1_000, shuffle_ties=True)
    loki = make_loki(double, tmp_path)
    for direction in ("forward", "backward"):
        pages = list(loki.query_range_all('{app=~"api|worker"}', T0, T0 + 2,
                                          direction=direction, page_size=500))
        assert keys(pages) == expected(entries)
    asked = [r["params"].get("query", "") for r in double.requests]
    assert any('pod="api-3"' in q and 'app=""' not in q for q in asked)
    assert any(r["path"].endswith("/series") for r in double.requests)


def test_a_lower_server_limit_is_learnt_from_its_400(make_loki_double, big_set, tmp_path):
    double = make_loki_double(big_set[:3_000], max_entries=400)
    loki = make_loki(double, tmp_path)
    pages = list(loki.query_range_all('{app=~".+"}', T0, T0 + 10**12))
    assert keys(pages) == expected(big_set[:3_000])
    assert loki.max_entries == 400 and max(len(p) for p in pages) <= 400


def test_one_stream_over_the_limit_at_one_instant_is_a_clear_error(make_loki_double, tmp_path):
    entries = [(T0, STREAMS[0], f"flood {i}") for i in range(1_200)]
    double = make_loki_double(entries, max_entries=1_000)
    with pytest.raises(QueryError, match="max_entries_limit_per_query") as info:
        list(make_loki(double, tmp_path).query_range_all('{app="api"}', T0, T0 + 1))
    assert stream_name(STREAMS[0]) in info.value.message


def test_an_empty_range_yields_nothing(make_loki_double, tmp_path):
    double = make_loki_double([(T0, STREAMS[0], "x")])
    loki = make_loki(double, tmp_path)
    assert list(loki.query_range_all('{app="api"}', T0 + 1, T0 + 100)) == []
    assert list(loki.query_range_all('{app="api"}', T0, T0)) == []
