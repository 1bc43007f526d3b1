"""Calling a Dash callback the way the browser does: a POST to ``/_dash-update-component``.

A forged request is just another body posted there, so tests of what the server accepts go
through the same endpoint, the app's real callbacks and its real Flask stack. Values are
given by ``"<id>.<property>"`` (a pattern-matching id by its ``type``); anything not given is
sent as ``None``, except an ``id`` property: the renderer sends the id itself. MATCH ids take
the concrete keys in ``match``; ALL ids take a list of ``(id_keys, value)`` pairs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

ENDPOINT = "/_dash-update-component"


def find(app, output: str) -> str:
    """The callback_map key of the one server-side callback whose outputs include ``output``."""
    keys = [k for k, cb in app.callback_map.items()
            if "callback" in cb and output in [_name(i, p) for i, p in outputs_of(k)]]
    assert len(keys) == 1, f"{output}: {len(keys)} callbacks"
    return keys[0]


def outputs_of(key: str) -> list[tuple[Any, str]]:
    """(id, property) of each output named in a callback_map key."""
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    return [(_id(part.rsplit(".", 1)[0]), part.rsplit(".", 1)[1]) for part in parts]


def dependencies(app, key: str) -> list[tuple[str, bool]]:
    """("<id>.<property>", is_input) of each input and state of ``key``'s callback."""
    spec = app.callback_map[key]
    return [(_name(_id(d["id"]), d["property"]), kind == "inputs")
            for kind in ("inputs", "state") for d in spec[kind]]


def body(app, key: str, values: Mapping[str, Any] = (), *, triggered: Sequence[str] = (),
         match: Mapping[str, Any] | None = None) -> dict:
    """The JSON body the renderer would post for ``key``."""
    values, match = dict(values), dict(match or {})
    spec = app.callback_map[key]

    def dep(d):
        d = {**d, "id": _id(d["id"])}
        if isinstance(d["id"], dict) and any(v == ["ALL"] for v in d["id"].values()):
            pairs = values.get(_name(d["id"], d["property"]), [])
            return [{"id": _concrete(d["id"], keys), "property": d["property"], "value": v}
                    for keys, v in pairs]
        id_ = _concrete(d["id"], match)
        # The renderer sends a component's own id as the value of its "id" property.
        default = id_ if d["property"] == "id" else None
        return {"id": id_, "property": d["property"],
                "value": values.get(_name(d["id"], d["property"]), default)}

    def changed(name: str) -> str:
        d = next(d for d in spec["inputs"] if _name(_id(d["id"]), d["property"]) == name)
        id_ = _id(d["id"])
        if isinstance(id_, dict) and any(v == ["ALL"] for v in id_.values()):
            id_ = _concrete(id_, values[name][0][0])  # the first element changed
        else:
            id_ = _concrete(id_, match)
        text = json.dumps(id_, separators=(",", ":"), sort_keys=True) if isinstance(
            id_, dict) else id_
        return f"{text}.{d['property']}"

    outputs = [{"id": _concrete(i, match), "property": p} for i, p in outputs_of(key)]
    return {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": [dep(d) for d in spec["inputs"]],
            "state": [dep(d) for d in spec["state"]],
            "changedPropIds": [changed(t) for t in triggered]}


def call(client, app, output: str, values: Mapping[str, Any] = (), **kwargs):
    """Post the callback that writes ``output``; the Flask response."""
    payload = body(app, find(app, output), values, **kwargs)
    return client.post(ENDPOINT, data=json.dumps(payload, allow_nan=True),
                       content_type="application/json")


def response_of(resp) -> dict:
    """``{"<id>": {"<prop>": value}}`` of a 200 answer (ids of patterns as Dash writes them)."""
    assert resp.status_code == 200, (resp.status_code, resp.get_data(as_text=True)[:500])
    return json.loads(resp.get_data(as_text=True))["response"]


def _id(text: str):
    return json.loads(text) if text.startswith("{") else text


def _name(id_, prop: str) -> str:
    return f"{id_['type'] if isinstance(id_, dict) else id_}.{prop.split('@')[0]}"


def _concrete(id_, keys: Mapping[str, Any]):
    if not isinstance(id_, dict):
        return id_
    return {k: (keys[k] if isinstance(v, list) else v) for k, v in id_.items()}
