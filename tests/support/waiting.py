"""Waiting in tests: one ``wait_until`` (a polled condition with a deadline), one bounded ``ask``, and
``kill_and_wait`` (SIGKILL a process and wait until it is dead)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psutil
import pykka

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], what: str = "the condition", timeout: float = 10.0) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.01)
    return value


def ask(ref: pykka.ActorRef[Any], message: Any, timeout: float = 10.0) -> Any:
    """``ref.ask(message)``, blocking at most ``timeout`` seconds."""
    return ref.ask(message, block=True, timeout=timeout)


def kill_and_wait(pid: int) -> None:
    """SIGKILL ``pid`` and wait until it is dead: gone, or a zombie whose every thread has exited (only then are
    its pipes closed; a killed process's leader is a zombie while its other threads are still being torn down).
    Whoever reads its pipes may not have noticed yet."""
    os.kill(pid, signal.SIGKILL)

    def dead() -> bool:
        try:
            zombie = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            return zombie and len(os.listdir(f"/proc/{pid}/task")) <= 1
        except (psutil.NoSuchProcess, FileNotFoundError):
            return True

    wait_until(dead, f"process {pid} dead")
