"""Keep the demo stack's servers running: a server that exits is restarted, with backoff.

One dead server must not take the stack down: the dashboard stays up and shows it down (that is
what the dashboard is for), and the server comes back after 1, 2, 4 … seconds, at most
``max_delay``; a server that stayed up for ``settle`` seconds starts again from the first delay.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

from stack import services

Starter = Callable[[], services.Proc]


@dataclass
class Supervisor:
    """Restarts the processes in ``procs`` with the starters of the same keys."""

    procs: MutableMapping[str, services.Proc]
    starters: MutableMapping[str, Starter]
    say: Callable[[str], None] = print
    on_restart: Callable[[services.Proc, services.Proc], None] = lambda old, new: None
    first_delay: float = 1.0
    max_delay: float = 30.0
    settle: float = 60.0
    now: Callable[[], float] = time.monotonic
    _due: dict[str, float] = field(default_factory=dict)
    _delay: dict[str, float] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)
    #: held by ``step`` and ``restart``: a restart asked for (the demo action engine) and one
    #: of a server that exited never start the same server twice
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def step(self) -> None:
        """Notice servers that exited and restart those whose delay is over."""
        with self._lock:
            self._step()

    def restart(self, key: str) -> tuple[int, int]:
        """Restart ``key`` now, whatever its state: (old pid, new pid) once the new one is
        ready. ServiceError if it does not come back (the supervisor then keeps trying)."""
        with self._lock:
            old = self.procs[key]
            self._started.setdefault(key, self.now())
            old.stop()
            try:
                new = self.starters[key]()
            except services.ServiceError:
                self._schedule(key, old, self.now())
                raise
            self._due.pop(key, None)
            self._delay.pop(key, None)
            self._started[key] = self.now()
            self.procs[key] = new
            self.on_restart(old, new)
            self.say(f"{new.name} restarted on request on port {new.port}")
            return old.popen.pid, new.popen.pid

    def _step(self) -> None:
        t = self.now()
        for key, proc in list(self.procs.items()):
            if key not in self.starters:
                continue
            self._started.setdefault(key, t)
            if key not in self._due and not proc.alive():
                self._schedule(key, proc, t)
            elif key in self._due and t >= self._due[key]:
                self._restart(key, proc, t)

    def run(self, poll: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
        """Supervise until interrupted (Ctrl-C, or the caller's signal handler raising)."""
        while True:
            self.step()
            sleep(poll)

    def _schedule(self, key: str, proc: services.Proc, t: float) -> None:
        if t - self._started[key] >= self.settle:
            self._delay.pop(key, None)  # it ran long enough: this is a new failure
        delay = self._delay.get(key, self.first_delay)
        self._delay[key] = min(delay * 2, self.max_delay)
        self._due[key] = t + delay
        self.say(f"{proc.name} exited with code {proc.popen.returncode}; restarting in "
                 f"{delay:g} s. Last lines of {proc.log_path}:\n{services.log_tail(proc.log_path)}")

    def _restart(self, key: str, old: services.Proc, t: float) -> None:
        old.stop()  # reaps it and anything left in its process group
        try:
            new = self.starters[key]()
        except services.ServiceError as exc:
            self.say(f"{old.name} did not come back: {exc}")
            self._schedule(key, old, t)
            return
        del self._due[key]
        self._started[key] = self.now()
        self.procs[key] = new
        self.on_restart(old, new)
        self.say(f"{new.name} restarted on port {new.port}")
