"""Login completions, routed by ``loginId`` to whoever waits for them.

``account/login/completed`` belongs to no thread: the root's unowned sink hands it here (on the reader thread).
A completion that arrives before anyone waits is kept (the last 64, so a forgotten login cannot grow memory) and
handed to the first waiter; each completion goes to one waiter, once.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from ._reply import ReplyTo, reply_error, reply_value

__all__ = ["LoginWaiters"]


class LoginWaiters:
    """Waiters and early completions by login id. Thread-safe."""

    def __init__(self, keep: int = 64) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, list[ReplyTo]] = {}
        self._early: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._keep = keep

    def deliver(self, login_id: str, completion: Any) -> None:
        """A completion arrived: give it to the first waiter, or keep it for the next one."""
        with self._lock:
            waiters = self._waiting.get(login_id)
            if not waiters:
                self._early[login_id] = completion
                while len(self._early) > self._keep:
                    self._early.popitem(last=False)
                return
            reply = waiters.pop(0)
            if not waiters:
                del self._waiting[login_id]
        reply_value(reply, completion)

    def wait(self, login_id: str, reply: ReplyTo) -> None:
        """Answer ``reply`` with the completion of ``login_id``, now if it already came."""
        with self._lock:
            if login_id not in self._early:
                self._waiting.setdefault(login_id, []).append(reply)
                return
            completion = self._early.pop(login_id)
        reply_value(reply, completion)

    def fail_all(self, error: BaseException) -> None:
        """Fail every waiter (the runtime is stopping)."""
        with self._lock:
            waiters = [reply for replies in self._waiting.values() for reply in replies]
            self._waiting.clear()
        for reply in waiters:
            reply_error(reply, error)
