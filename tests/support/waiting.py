"""Waiting in tests: one ``wait_until`` (a polled condition with a deadline) and one bounded ``ask``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

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
