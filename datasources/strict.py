"""Strict reading of upstream JSON: a body that is not what the API promises is ``BadResponse``.

Each check names the field that was wrong and what it held instead, and nothing is coerced: a
label value must already be a string, a count an integer, a sample value text Go's
``strconv.ParseFloat`` reads back as the same number. Shared by the Prometheus, Loki and
Alertmanager parsers so all three fail alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from datasources.errors import BadResponse

#: A sample value as Go's ``strconv.ParseFloat`` reads it: decimal or exponent forms, and the
#: special values (any case, as Go accepts them). No spaces, underscores, hex or quotes.
GO_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                      r"|(?i:inf|infinity))|(?i:nan)")
_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a number",
               float: "a number", bool: "true/false", type(None): "null"}


def loads(body: bytes | str, upstream: str) -> Any:
    """``orjson.loads``; bodies that are not JSON (or nest past its limit) are ``BadResponse``."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # The depth limit ("recursion limit") is a decode error too: one place maps them all.
        raise BadResponse(upstream, f"not JSON ({exc.msg}): {snippet(body)}") from None


def snippet(value: Any, limit: int = 120) -> str:
    """A short quotable view of a body or parsed value, safe for any depth."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value).decode()
        except TypeError:  # nested past orjson's limit, or not JSON at all
            return f"{type_name(value)} nested too deep to show"
    text = " ".join(text.split())
    return repr(text[:limit] + ("…" if len(text) > limit else "")) if text else "empty"


def type_name(value: Any) -> str:
    """"a string", "a list", "null" …: what a JSON value is, for a message."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def wrong(upstream: str, where: str, value: Any, expected: str) -> BadResponse:
    """The error for ``where`` holding ``value`` instead of ``expected``."""
    shown = "" if value is None or (isinstance(value, (dict, list)) and not value) \
        else f" {snippet(value)}"
    return BadResponse(upstream, f"{where} is {type_name(value)}{shown}, not {expected}")


def need_object(value: Any, where: str, upstream: str) -> Mapping:
    """``value`` when it is a JSON object."""
    if not isinstance(value, (dict, Mapping)):  # a dict matches before the slower ABC
        raise wrong(upstream, where, value, "an object")
    return value


def need_list(value: Any, where: str, upstream: str) -> list:
    """``value`` when it is a JSON list."""
    if not isinstance(value, list):
        raise wrong(upstream, where, value, "a list")
    return value


def optional_str(obj: Mapping, key: str, where: str, upstream: str) -> str | None:
    """``obj[key]`` when a string, None when absent or null."""
    value = obj.get(key)
    if value is not None and type(value) is not str:
        raise wrong(upstream, f"{where}: {key!r}", value, "a string")
    return value


def required_str(obj: Mapping, key: str, where: str, upstream: str) -> str:
    """``obj[key]``, which must be a string."""
    if key not in obj:
        raise BadResponse(upstream, f"{where} has no {key!r}")
    value = optional_str(obj, key, where, upstream)
    if value is None:
        raise wrong(upstream, f"{where}: {key!r}", value, "a string")
    return value


def optional_number(obj: Mapping, key: str, where: str, upstream: str) -> float | None:
    """``obj[key]`` when a JSON number (never true/false), None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise wrong(upstream, f"{where}: {key!r}", value, "a finite number")
    return float(value)


def strings(value: Any, where: str, upstream: str) -> list[str]:
    """``value`` when it is a list of strings."""
    if not isinstance(value, list) or not set(map(type, value)) <= {str}:
        raise wrong(upstream, where, value, "a list of strings")
    return value


def label_set(value: Any, where: str, upstream: str) -> dict[str, str]:
    """A label set: an object whose values are all strings."""
    # Called once per log entry with metadata: cheap checks first (dict before the ABC).
    if not isinstance(value, (dict, Mapping)) \
            or not set(map(type, value.values())) <= _STR or not set(map(type, value)) <= _STR:
        raise wrong(upstream, where, value, "an object of label strings")
    return value


_STR = frozenset({str})


def go_float(text: Any, where: str, upstream: str) -> float:
    """One sample value as Go's ``strconv.ParseFloat`` reads it; anything else is an error."""
    if type(text) is not str or not GO_FLOAT.fullmatch(text):
        raise BadResponse(upstream, f"{where} {snippet(text)} is not a number")
    value = float(text)
    if math.isinf(value) and "n" not in text.lower():
        # Go returns ErrRange for "1e400": no server sends it, so the body is corrupt.
        raise BadResponse(upstream, f"{where} {text!r} is outside the float64 range")
    return value
