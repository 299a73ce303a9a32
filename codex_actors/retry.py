"""``retry_on_overload``: retry an operation while the engine says it is overloaded.

The official numbers: up to ``max_attempts`` calls; between them a sleep of ``min(max_delay_s, delay)`` plus or
minus ``jitter_ratio`` of ``delay``, with ``delay`` starting at ``initial_delay_s`` and doubling (0.25, 0.5, 1.0,
2.0, 2.0, ...); the last exception is re-raised; a non-retryable one at once. What counts as retryable is
:func:`~codex_actors.errors.is_retryable_error`, which (unlike the official SDK) includes the engine's real
overload answer, ``-32001 "Server overloaded; retry later."`` with no data.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import is_retryable_error

__all__ = ["retry_on_overload"]

T = TypeVar("T")


def retry_on_overload(
    op: Callable[[], T],
    *,
    max_attempts: int = 3,
    initial_delay_s: float = 0.25,
    max_delay_s: float = 2.0,
    jitter_ratio: float = 0.2,
) -> T:
    """Call ``op`` until it succeeds, retrying transient overload errors with backoff."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")
    delay = initial_delay_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return op()
        except Exception as exc:
            if attempt >= max_attempts or not is_retryable_error(exc):
                raise
            jitter = delay * jitter_ratio
            pause = min(max_delay_s, delay) + random.uniform(-jitter, jitter)
            if pause > 0:
                time.sleep(pause)
            delay = min(max_delay_s, delay * 2)
