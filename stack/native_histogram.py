"""A native (sparse, exponential-bucket) histogram and its protobuf exposition.

prometheus_client 0.26 cannot give Prometheus a native histogram: its ``Histogram`` keeps
only classic ``le`` buckets, and its text and OpenMetrics expositions have no native form
Prometheus 2.42 reads (2.42 ingests native histograms only from the protobuf exposition,
with ``--enable-feature=native-histograms``). This module keeps one per label set and writes
``io.prometheus.client.MetricFamily`` messages, length-delimited, by hand: a few protobuf
fields, no protobuf library.

Buckets follow Prometheus' exponential schema: at schema ``s`` bucket ``i`` holds
``(2^((i-1)/2^s), 2^(i/2^s)]``; values at most ``zero_threshold`` from 0 go to the zero bucket.
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Iterable, Sequence

#: What Prometheus asks for (and we answer with) when it scrapes protobuf.
PROTOBUF_TYPE = ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
                 "encoding=delimited")
_HISTOGRAM_TYPE = 4  # MetricType.HISTOGRAM


class NativeHistogram:
    """Observations per label set, in exponential buckets of ``schema`` (-4 to 8)."""

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = (), *, schema: int = 3,
                 zero_threshold: float = 2.0 ** -128):
        if not -4 <= schema <= 8:
            raise ValueError(f"schema {schema} is outside -4..8")
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self.schema, self.zero_threshold = schema, zero_threshold
        self._lock = threading.Lock()
        self._series: dict[tuple[str, ...], _State] = {}

    def observe(self, value: float, *labelvalues: str) -> None:
        """Count ``value`` (a latency: negative values are counted in the zero bucket)."""
        if len(labelvalues) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}")
        with self._lock:
            state = self._series.setdefault(tuple(labelvalues), _State())
            state.count += 1
            state.sum += value
            if value <= self.zero_threshold:
                state.zero += 1
            else:
                key = bucket_index(value, self.schema)
                state.buckets[key] = state.buckets.get(key, 0) + 1

    def family(self) -> bytes:
        """The metric family as one length-delimited protobuf message."""
        with self._lock:
            metrics = [self._metric(labels, state) for labels, state in
                       sorted(self._series.items())]
        body = (_string(1, self.name) + _string(2, self.help) + _varint_field(3, _HISTOGRAM_TYPE)
                + b"".join(_message(4, m) for m in metrics))
        return _varint(len(body)) + body

    def _metric(self, labelvalues: tuple[str, ...], state: _State) -> bytes:
        labels = b"".join(_message(1, _string(1, k) + _string(2, v))
                          for k, v in zip(self.labelnames, labelvalues, strict=True))
        hist = (_varint_field(1, state.count) + _double(2, state.sum)
                + _varint_field(5, _zigzag(self.schema)) + _double(6, self.zero_threshold)
                + _varint_field(7, state.zero))
        spans, deltas = spans_and_deltas(state.buckets)
        hist += b"".join(_message(12, _varint_field(1, _zigzag(off)) + _varint_field(2, n))
                         for off, n in spans)
        hist += b"".join(_varint_field(13, _zigzag(d)) for d in deltas)
        return labels + _message(7, hist)


class _State:
    __slots__ = ("buckets", "count", "sum", "zero")

    def __init__(self):
        self.count, self.sum, self.zero = 0, 0.0, 0
        self.buckets: dict[int, int] = {}


def bucket_index(value: float, schema: int) -> int:
    """The index of the bucket holding ``value`` > 0: upper bounds are inclusive."""
    frac, exp = math.frexp(value)  # value = frac * 2**exp, 0.5 <= frac < 1
    if schema > 0:
        # log2(value) = exp + log2(frac); the exact power of two lands on its own upper bound.
        if frac == 0.5:
            return (exp - 1) << schema
        return (exp - 1) * (1 << schema) + math.ceil(math.log2(frac * 2) * (1 << schema))
    key = exp - 1 if frac == 0.5 else exp
    return (key + (1 << -schema) - 1) >> -schema


def bucket_bounds(index: int, schema: int) -> tuple[float, float]:
    """(lower, upper] of positive bucket ``index`` at ``schema``."""
    base = 2.0 ** (2.0 ** -schema)
    return base ** (index - 1), base ** index


def spans_and_deltas(buckets: dict[int, int]) -> tuple[list[tuple[int, int]], list[int]]:
    """Protobuf's sparse form: spans (gap, length) of adjacent indexes, counts as deltas."""
    spans: list[tuple[int, int]] = []
    deltas: list[int] = []
    previous_index, previous_count = None, 0
    for index in sorted(buckets):
        if previous_index is not None and index == previous_index + 1:
            spans[-1] = (spans[-1][0], spans[-1][1] + 1)
        else:
            gap = index if previous_index is None else index - previous_index - 1
            spans.append((gap, 1))
        deltas.append(buckets[index] - previous_count)
        previous_index, previous_count = index, buckets[index]
    return spans, deltas


def exposition(histograms: Iterable[NativeHistogram]) -> bytes:
    """A whole protobuf scrape body of ``histograms``."""
    return b"".join(h.family() for h in histograms)


# --- protobuf wire format ------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _varint_field(field: int, n: int) -> bytes:
    return _varint(field << 3) + _varint(n)


def _double(field: int, x: float) -> bytes:
    return _varint(field << 3 | 1) + struct.pack("<d", x)


def _message(field: int, body: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(body)) + body


def _string(field: int, text: str) -> bytes:
    return _message(field, text.encode())
