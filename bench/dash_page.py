"""The callback requests a browser's Dash renderer posts, rebuilt from the served page itself.

``Page`` holds what the renderer holds: the callback map (``/_dash-dependencies``) and every
component's props, first from ``/_dash-layout``, then as callback answers change them
(``apply``), new components included (the Metrics panels arrive in a callback's answer).
``Page.body`` writes a request as the renderer does (``dash-renderer``'s ``handleServerside``
payload: output, outputs, inputs, changedPropIds, parsedChangedPropsIds, state), values taken
from those props; a prop the page never had is left out, as the renderer leaves ``undefined``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

ENDPOINT = "/_dash-update-component"


def id_key(id_: Any) -> str:
    """A component id as Dash writes it in prop ids: dict ids as sorted, compact JSON."""
    return json.dumps(id_, sort_keys=True, separators=(",", ":")) if isinstance(
        id_, dict) else id_


def components(tree: Any) -> Iterator[dict]:
    """Every component with an id in a layout fragment, at any depth."""
    if isinstance(tree, list):
        for item in tree:
            yield from components(item)
    elif isinstance(tree, dict) and "props" in tree and "type" in tree:
        props = tree["props"]
        if "id" in props:
            yield tree
        for value in props.values():
            yield from components(value)


class Page:
    """One browser's view of the app: callbacks and current props."""

    def __init__(self, layout: Any, dependencies: list[dict]):
        self.callbacks = [c for c in dependencies if not c.get("clientside_function")]
        self.props: dict[tuple[str, str], Any] = {}
        self.add(layout)

    def add(self, tree: Any) -> None:
        """Remember the props of every component in ``tree``."""
        for comp in components(tree):
            key = id_key(comp["props"]["id"])
            for prop, value in comp["props"].items():
                self.props[(key, prop)] = value

    def ids(self, kind: str) -> list[dict]:
        """The pattern-matching ids of type ``kind`` on the page."""
        found = []
        for key, prop in self.props:
            if prop == "id" and key.startswith("{"):
                id_ = json.loads(key)
                if id_.get("type") == kind:
                    found.append(id_)
        return found

    def callback(self, match: Callable[[str], bool]) -> dict:
        """The one server-side callback whose output string satisfies ``match``."""
        found = [c for c in self.callbacks if match(c["output"])]
        if len(found) != 1:
            raise LookupError(f"{len(found)} callbacks match")
        return found[0]

    def body(self, cb: dict, triggered: list[tuple[Any, str]], match: dict | None = None) -> dict:
        """The renderer's request for ``cb``; ``match`` fills its MATCH wildcards."""
        match = match or {}
        outputs = [self._dep(o, match, value=False) for o in _outputs(cb["output"])]
        changed = [f"{id_key(_concrete(_id(i), match))}.{p}" for i, p in triggered]
        payload = {"output": cb["output"],
                   "outputs": outputs if cb["output"].startswith("..") else outputs[0],
                   "inputs": [self._dep(d, match) for d in cb["inputs"]],
                   "changedPropIds": changed,
                   "parsedChangedPropsIds": [json.loads(c.rsplit(".", 1)[0]) if c.startswith("{")
                                             else c for c in changed]}
        if cb["state"]:
            payload["state"] = [self._dep(d, match) for d in cb["state"]]
        return payload

    def apply(self, answer: dict) -> None:
        """Take a callback's answer (``{"response": {id: {prop: value}}}``) into the page."""
        for key, props in answer.get("response", {}).items():
            for prop, value in props.items():
                self.props[(key, prop)] = value
                self.add(value)

    def _dep(self, dep: dict, match: dict, value: bool = True) -> dict:
        id_ = _concrete(_id(dep["id"]), match)
        out = {"id": id_, "property": dep["property"]}
        if value:
            if dep["property"] == "id":
                out["value"] = id_
            elif (id_key(id_), dep["property"]) in self.props:
                out["value"] = self.props[(id_key(id_), dep["property"])]
        return out


def _outputs(output: str) -> list[dict]:
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]


def _id(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) and text.startswith("{") else text


def _concrete(id_: Any, match: dict) -> Any:
    if not isinstance(id_, dict):
        return id_
    return {k: (match[k] if isinstance(v, list) else v) for k, v in id_.items()}
