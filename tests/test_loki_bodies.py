"""The Loki body indexes agree with their files: every file indexed, every fact counted right.

The facts are counted here straight from the JSON (never through ``datasources``), so the
framing tests in ``test_loki.py`` compare the product against numbers that the files prove.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from decimal import Decimal

import pytest

from tests.loki_bodies import OWN, SHARED, corpora

#: Facts every JSON body's index entry has, whatever its kind.
COMMON = ("endpoint", "resultType", "entries", "streams", "label_keys", "status", "warnings")


def stream_facts(payload: dict) -> dict:
    """What a ``streams`` result holds, entry by entry."""
    result = payload["result"]
    entries = [(s["stream"], v) for s in result for v in s["values"]]
    metas = [v[2] for _, v in entries if len(v) > 2]
    categorized = "categorize-labels" in payload.get("encodingFlags", [])
    sm = {k for m in metas for k in (m.get("structuredMetadata", {}) if categorized else m)}
    parsed = {k for m in metas if categorized for k in m.get("parsed", {})}
    per_stream = Counter((json.dumps(s, sort_keys=True), v[0]) for s, v in entries)
    ns = [int(v[0]) for _, v in entries]
    return {"entries": len(entries), "streams": len(result),
            "label_keys": sorted({k for s in result for k in s["stream"]}),
            "structured_metadata_keys": sorted(sm), "parsed_keys": sorted(parsed),
            "min_ts_ns": str(min(ns)), "max_ts_ns": str(max(ns)),
            "entries_with_third_element": len(metas),
            "duplicate_ts_within_stream": sum(n - 1 for n in per_stream.values()),
            "distinct_ts": len(set(ns))}


def metric_facts(result_type: str, result) -> dict:
    """What a ``matrix``, ``vector`` or ``scalar`` result holds, sample by sample."""
    if result_type == "scalar":
        series, samples = [], [result]
    elif result_type == "vector":
        series, samples = result, [s["value"] for s in result]
    else:
        series, samples = result, [v for s in result for v in s["values"]]
    facts = {"entries": len(samples), "streams": len(series),
             "label_keys": sorted({k for s in series for k in s["metric"]}),
             "nonfinite_values": sum(not math.isfinite(float(v)) for _, v in samples)}
    if result_type == "matrix" and samples:
        times = [v[0] for s in series for v in s["values"]]
        per_series = Counter((i, v[0]) for i, s in enumerate(series) for v in s["values"])
        facts.update(min_ts_s=str(min(times)), max_ts_s=str(max(times)),
                     duplicate_ts_within_series=sum(n - 1 for n in per_series.values()))
    elif result_type == "matrix":
        facts["duplicate_ts_within_series"] = 0
    return facts


def counted_facts(raw: bytes) -> dict:
    """The index facts of a JSON body, counted from the body alone."""
    # Decimal keeps the seconds of a sample exactly as written ("1741944413.125").
    data = json.loads(raw, parse_float=Decimal)
    if "volumes" in data:  # the querier's raw index-volume shape
        return {"items": len(data["volumes"]), "limit": data["limit"], "status": None}
    facts = {"status": data.get("status"), "warnings": len(data.get("warnings") or [])}
    payload = data.get("data")
    if isinstance(payload, list) and all(isinstance(x, dict) for x in payload) and payload:
        return {**facts, "streams": len(payload),
                "label_keys": sorted({k for s in payload for k in s})}
    if isinstance(payload, list):
        return {**facts, "items": len(payload)}
    if not payload:
        return {**facts, "resultType": None, "entries": 0, "streams": 0, "label_keys": []}
    result_type = payload["resultType"]
    facts.update(resultType=result_type, has_stats="stats" in payload,
                 encoding_flags=payload.get("encodingFlags", []))
    if result_type == "streams":
        return {**facts, **stream_facts(payload)}
    return {**facts, **metric_facts(result_type, payload["result"])}


def indexed(facts: dict, key: str):
    # The real corpus' manifest leaves out key lists that would be empty.
    empty = [] if key in ("structured_metadata_keys", "parsed_keys") else None
    return facts.get(key, empty)


def test_the_own_corpus_is_always_there():
    assert OWN.present and OWN in corpora()
    assert (SHARED in corpora()) == SHARED.present


def test_every_file_is_indexed(corpus):
    on_disk = {p.name for p in corpus.folder.iterdir() if p.suffix in (".json", ".txt")}
    assert on_disk - {corpus.index_file} == set(corpus.index())


@pytest.mark.loki_bodies(where=lambda body: body.name.endswith(".json"))
def test_index_facts_are_the_files_facts(loki_body):
    counted = counted_facts(loki_body.raw)
    assert {k: indexed(loki_body.facts, k) for k in counted} == counted
    if loki_body.facts["endpoint"] not in ("volume", "labels", "label_values", "series"):
        assert set(COMMON) <= set(loki_body.facts)


@pytest.mark.loki_bodies(where=lambda body: body.facts["endpoint"] == "error")
def test_error_bodies_are_plain_text_as_loki_writes_them(loki_body):
    text = loki_body.raw.decode("utf-8")
    assert text and text == text.strip()  # Loki writes the message alone, no newline
    assert loki_body.facts["content_type"] == "text/plain; charset=utf-8"
    assert loki_body.facts["http_status"] in (400, 504)


def test_every_own_body_says_what_it_is_and_which_request_gives_it():
    for name, facts in OWN.index().items():
        assert facts["about"] and facts["doc"].startswith("https://grafana.com/docs/"), name
        if "request" in facts:
            assert facts["request"]["path"].startswith("/loki/api/v1/"), name
    readme = (OWN.folder / "README.md").read_text()
    assert "https://grafana.com/docs/loki/latest/reference/loki-http-api/" in readme
