"""The Loki bodies the tests frame: the project's own, and real Loki's when they are beside us.

``OWN`` (``tests/fixtures/loki``, indexed by ``INDEX.json``) is written by hand from Loki's
documented HTTP API and is always there. ``SHARED`` (``../shared/fixtures/loki``, indexed by
``manifest.json``) holds bodies recorded from Loki's and Grafana's own tests and docs; it sits
beside the repository in CI only and belongs to other projects, so it is never copied here,
read only when a test asks for it, and its cases exist only when the folder does
(``tests/conftest.py`` generates them and says so in the run's summary when it is absent).

Both indexes describe a body with the same facts (``endpoint``, ``resultType``, ``entries``,
``streams``, ``label_keys``, ``min_ts_ns`` …), so one test runs unchanged on either corpus.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_SHOWN = "../shared/fixtures/loki"  # how the summary names the folder


@dataclass(frozen=True)
class Corpus:
    """A folder of Loki bodies and the index that says what each is."""

    name: str
    folder: Path
    index_file: str
    conformance: bool = False

    @property
    def present(self) -> bool:
        return (self.folder / self.index_file).is_file()

    @property
    def marks(self) -> list:
        """``conformance`` on every case of the real-Loki corpus, so ``-m`` can pick them."""
        return [pytest.mark.conformance] if self.conformance else []

    def index(self) -> dict[str, dict]:
        """File name → facts, read on first use."""
        return _read_json(self.folder / self.index_file)

    def names(self, where: Callable[[Body], bool] = lambda body: True) -> list[str]:
        """The indexed file names whose ``Body`` passes ``where``, sorted."""
        return sorted(n for n in self.index() if where(Body(self, n)))

    def body(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def json(self, name: str) -> dict:
        return json.loads(self.body(name))

    def pick(self, **by_corpus):
        """This corpus' entry of ``own=…, shared=…``: which body a test uses, and its values."""
        return by_corpus[self.name]


@dataclass(frozen=True)
class Body:
    """One indexed body of a corpus."""

    corpus: Corpus
    name: str

    @property
    def id(self) -> str:
        return f"{self.corpus.name}:{self.name}"

    @property
    def facts(self) -> dict:
        return self.corpus.index()[self.name]

    @property
    def raw(self) -> bytes:
        return self.corpus.body(self.name)

    def json(self) -> dict:
        return json.loads(self.raw)


@cache
def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


OWN = Corpus("own", REPO / "tests" / "fixtures" / "loki", "INDEX.json")
SHARED = Corpus("shared", REPO.parent / "shared" / "fixtures" / "loki", "manifest.json",
                conformance=True)


def corpora() -> list[Corpus]:
    """The own corpus, then the real one when its folder is beside the repository."""
    return [OWN, SHARED] if SHARED.present else [OWN]


def bodies(where: Callable[[Body], bool]) -> list[Body]:
    """Every body of every present corpus that passes ``where``."""
    return [Body(c, n) for c in corpora() for n in c.names(where)]


def summary_line(conformance_outcomes: dict[str, int]) -> str | None:
    """The run summary's word on the real-Loki corpus: absent, or how its cases went."""
    if not SHARED.present:
        return (f"conformance: {SHARED_SHOWN} not found — real-Loki-body conformance run "
                "not included")
    if not conformance_outcomes:
        return None  # no Loki test was selected: nothing to say
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(conformance_outcomes.items()))
    return f"conformance: real-Loki bodies from {SHARED_SHOWN}: {counts}"
