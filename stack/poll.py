"""One way to wait for something: ask again until it holds, give up after a timeout.

Used by the server starters (ready, scraped, stopped) and by the tests, which wait on real
servers and a real browser instead of sleeping a fixed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(predicate: Callable[[], T], timeout: float = 15.0, *, every: float = 0.1,
          message: str = "condition not met",
          error: Callable[[str], BaseException] = TimeoutError) -> T:
    """``predicate()``'s first truthy result, asked every ``every`` s; ``error`` after ``timeout``.

    ``predicate`` is always asked at least once, and once more at the deadline, so a slow
    machine does not fail a wait whose condition came true while it slept.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise error(f"{message}: still {result!r} after {timeout:g} s")
        time.sleep(min(every, max(0.0, deadline - time.monotonic())))
