"""PromQL text: quoting label values, naming series, building matchers."""

from __future__ import annotations

from collections.abc import Mapping


def escape_value(value: str) -> str:
    """A label value quoted as PromQL (and LogQL) expects inside ``"…"``."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_name(metric: Mapping[str, str]) -> str:
    """``up{instance="a",job="b"}`` as PromQL reads it back; ``{}`` for no labels."""
    name = metric.get("__name__", "")
    pairs = ",".join(f'{k}="{escape_value(v)}"' for k, v in sorted(metric.items())
                     if k != "__name__")
    return f"{name}{{{pairs}}}" if pairs or not name else name


def regex_selector(label: str, pattern: str) -> str:
    """``{label=~"pattern"}``: a series selector for label_values' ``match[]``."""
    return f'{{{label}=~"{escape_value(pattern)}"}}'
