"""stack/supervise.py: a server that exits comes back, with backoff, and the others stay up."""

from __future__ import annotations

import sys

import pytest

from stack import services
from stack.supervise import Supervisor


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def sleeper(tmp_path, name: str, seconds: float) -> services.Proc:
    """A real process that says it is up, then exits by itself after ``seconds``."""
    code = f"import time; print('up', flush=True); time.sleep({seconds})"
    return services.start_server(name, [sys.executable, "-c", code], tmp_path / name,
                                 ready=services.log_ready("up"))


def test_an_exited_server_is_restarted_after_a_growing_delay(tmp_path):
    clock, said, started = Clock(), [], []

    def start_flaky():
        started.append(1)
        return sleeper(tmp_path, "flaky", 0.3)

    procs = {"flaky": start_flaky(), "steady": sleeper(tmp_path, "steady", 60)}
    sup = Supervisor(procs, {"flaky": start_flaky, "steady": lambda: sleeper(tmp_path, "s", 60)},
                     say=said.append, now=clock, first_delay=1, settle=60)
    try:
        procs["flaky"].popen.wait(10)
        sup.step()
        assert "flaky exited with code 0; restarting in 1 s" in said[0]
        clock.t = 0.5
        sup.step()
        assert len(started) == 1  # not before its delay
        clock.t = 1.0
        sup.step()
        assert len(started) == 2 and said[-1].startswith("flaky restarted")
        procs["flaky"].popen.wait(10)
        clock.t = 2.0
        sup.step()
        assert "restarting in 2 s" in said[-1]  # it failed again at once: twice the delay
        assert procs["steady"].alive()
    finally:
        for proc in procs.values():
            proc.stop()


def test_a_server_that_ran_long_enough_starts_again_from_the_first_delay(tmp_path):
    clock, said = Clock(), []
    procs = {"flaky": sleeper(tmp_path, "flaky", 0.3)}
    sup = Supervisor(procs, {"flaky": lambda: sleeper(tmp_path, "flaky", 0.3)}, say=said.append,
                     now=clock, first_delay=1, settle=60)
    try:
        procs["flaky"].popen.wait(10)
        sup.step()
        clock.t = 1
        sup.step()
        procs["flaky"].popen.wait(10)
        clock.t = 100  # it "ran" 99 s before exiting
        sup.step()
        assert "restarting in 1 s" in said[-1]
    finally:
        procs["flaky"].stop()


def test_a_failed_restart_is_said_and_tried_again_later(tmp_path):
    clock, said = Clock(), []

    def broken():
        raise services.ServiceError("port taken")

    procs = {"x": sleeper(tmp_path, "x", 0.3)}
    sup = Supervisor(procs, {"x": broken}, say=said.append, now=clock, first_delay=1)
    procs["x"].popen.wait(10)
    sup.step()
    clock.t = 1
    sup.step()
    assert said[-2] == "x did not come back: port taken"
    assert "restarting in 2 s" in said[-1]


def test_restart_on_request_replaces_a_running_server_at_once(tmp_path):
    clock, said, replaced = Clock(), [], []
    procs = {"s": sleeper(tmp_path, "s", 60)}
    sup = Supervisor(procs, {"s": lambda: sleeper(tmp_path, "s", 60)}, say=said.append, now=clock,
                     on_restart=lambda old, new: replaced.append((old, new)))
    old = procs["s"]
    try:
        old_pid, new_pid = sup.restart("s")
        assert (old_pid, new_pid) == (old.popen.pid, procs["s"].popen.pid) and old_pid != new_pid
        assert not old.alive() and procs["s"].alive()
        assert replaced == [(old, procs["s"])] and said[-1].startswith("s restarted on request")
        sup.step()  # the old one's exit is not taken for a crash
        assert len(said) == 1
    finally:
        procs["s"].stop()


def test_a_restart_on_request_that_fails_says_so_and_is_retried_later(tmp_path):
    clock, said = Clock(), []

    def broken():
        raise services.ServiceError("port taken")

    procs = {"x": sleeper(tmp_path, "x", 60)}
    sup = Supervisor(procs, {"x": broken}, say=said.append, now=clock, first_delay=1)
    try:
        with pytest.raises(services.ServiceError, match="port taken"):
            sup.restart("x")
        assert "restarting in 1 s" in said[-1]
    finally:
        procs["x"].stop()
