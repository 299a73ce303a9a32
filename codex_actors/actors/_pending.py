"""The requests written to one engine and not yet answered: filled by the port, completed by its reader."""

from __future__ import annotations

import threading

from .._protocol.jsonrpc import RequestId
from ._reply import ReplyTo

__all__ = ["PendingRequests"]


class PendingRequests:
    """Replies waiting by request id. Thread-safe.

    Once closed (the engine is gone) it accepts nothing more, so no request can slip in after the last failure
    sweep and wait for a reply that will never come.
    """

    __slots__ = ("_closed", "_items", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, ReplyTo] = {}
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def add(self, request_id: int, reply: ReplyTo) -> bool:
        """Wait for ``request_id``'s answer on ``reply``; False (nothing kept) once closed."""
        with self._lock:
            if self._closed:
                return False
            self._items[request_id] = reply
            return True

    def pop(self, request_id: RequestId | None) -> ReplyTo | None:
        """The reply waiting for ``request_id`` (``None`` if nobody waits: it gave up, or the id is not ours)."""
        if not isinstance(request_id, int):
            return None
        with self._lock:
            return self._items.pop(request_id, None)

    def cancel(self, reply: ReplyTo) -> None:
        """Forget every request answered to ``reply``."""
        with self._lock:
            for request_id, waiting in list(self._items.items()):
                if waiting is reply:
                    del self._items[request_id]

    def close(self) -> list[ReplyTo]:
        """Accept nothing more; the replies still waiting, for their owner to fail."""
        with self._lock:
            self._closed = True
            items = list(self._items.values())
            self._items.clear()
            return items
