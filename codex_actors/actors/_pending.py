"""The requests written to one engine and not yet answered: filled by the port, completed by its reader.

With ``codex_actors.requests`` at DEBUG, or with request metrics on (:attr:`PendingRequests.observe`), the port
registers each request with its method (:meth:`add`'s ``method``) and the table logs one line and tells
``observe`` when it is answered (``ok``, or the error class and JSON-RPC code), cancelled (its caller stopped
waiting) or failed at close (the engine is gone), with the seconds it took. With neither, nothing is recorded: no
clock is read, and a reply costs one check of an empty dict.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._logs import REQUESTS
from .._protocol.jsonrpc import RequestId
from ._reply import ReplyTo, is_for

__all__ = ["PendingRequests", "tracing_requests"]


def tracing_requests() -> bool:
    """Whether requests are to be traced (``codex_actors.requests`` is enabled for DEBUG)."""
    return REQUESTS.isEnabledFor(logging.DEBUG)


class _Trace:
    """What is logged about one traced request: method, thread, and when it was written."""

    __slots__ = ("method", "started_ns", "thread_id")

    def __init__(self, method: str, thread_id: str | None) -> None:
        self.method = method
        self.thread_id = thread_id
        self.started_ns = time.monotonic_ns()


def thread_of(params: Any) -> str | None:
    """The thread a request's params name (``threadId`` of a mapping, ``thread_id`` of a struct), if any."""
    value = params.get("threadId") if isinstance(params, Mapping) else getattr(params, "thread_id", None)
    return value if isinstance(value, str) else None


class PendingRequests:
    """Replies waiting by request id. Thread-safe.

    Once closed (the engine is gone) it accepts nothing more, so no request can slip in after the last failure
    sweep and wait for a reply that will never come. :attr:`traced` holds the requests being traced for the
    request log (empty unless ``codex_actors.requests`` is at DEBUG); :attr:`pid` names the engine in it.
    """

    __slots__ = ("_closed", "_items", "_lock", "observe", "pid", "traced")

    def __init__(self, observe: Callable[[str, str, float], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, ReplyTo] = {}
        self._closed = False
        self.traced: dict[int, _Trace] = {}
        self.pid: int | None = None
        #: Told ``(method, outcome, seconds)`` of each traced request when it ends (the request metrics).
        self.observe = observe

    @property
    def tracing(self) -> bool:
        """Whether requests are to be traced: for the request log (DEBUG), or for :attr:`observe`."""
        return self.observe is not None or tracing_requests()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, request_id: int, reply: ReplyTo, method: str | None = None, params: Any = None) -> bool:
        """Wait for ``request_id``'s answer on ``reply``; False (nothing kept) once closed.

        With a ``method`` (given only when :func:`tracing_requests`), the request is traced: its outcome is
        logged when it is answered (:meth:`answered`), cancelled or failed at close.
        """
        with self._lock:
            if self._closed:
                return False
            self._items[request_id] = reply
            if method is not None:
                self.traced[request_id] = _Trace(method, thread_of(params))
            return True

    def pop(self, request_id: RequestId | None) -> ReplyTo | None:
        """The reply waiting for ``request_id`` (``None`` if nobody waits: it gave up, or the id is not ours)."""
        if not isinstance(request_id, int):
            return None
        with self._lock:
            return self._items.pop(request_id, None)

    def answered(self, request_id: RequestId | None, error: BaseException | None = None) -> None:
        """Log the answer to a traced request (``error`` is the mapped JSON-RPC error, if it failed)."""
        if not isinstance(request_id, int):
            return
        with self._lock:
            trace = self.traced.pop(request_id, None)
        if trace is not None:
            self._log(request_id, trace, error, cancelled=False)

    def cancel(self, reply: ReplyTo, error: BaseException | None = None) -> None:
        """Forget every request answered (or redirected) to ``reply`` (``error``: why, for the request log)."""
        with self._lock:
            gone = [request_id for request_id, waiting in self._items.items() if is_for(waiting, reply)]
            traces = [(request_id, self.traced.pop(request_id, None)) for request_id in gone]
            for request_id in gone:
                del self._items[request_id]
        for request_id, trace in traces:
            if trace is not None:
                self._log(request_id, trace, error, cancelled=True)

    def close(self, error: BaseException | None = None) -> list[ReplyTo]:
        """Accept nothing more; the replies still waiting, for their owner to fail (with ``error``, logged)."""
        with self._lock:
            self._closed = True
            items = list(self._items.values())
            self._items.clear()
            traces = list(self.traced.items())
            self.traced.clear()
        for request_id, trace in traces:
            self._log(request_id, trace, error, cancelled=False)
        return items

    def _log(self, request_id: int, trace: _Trace, error: BaseException | None, *, cancelled: bool) -> None:
        seconds = (time.monotonic_ns() - trace.started_ns) / 1e9
        outcome = type(error).__name__ if error is not None else "cancelled" if cancelled else "ok"
        if self.observe is not None:
            self.observe(trace.method, outcome, seconds)
        if not tracing_requests():
            return
        elapsed_s = round(seconds, 6)
        code = getattr(error, "code", None)
        error_code = code if isinstance(code, int) else None
        extra = {
            "method": trace.method,
            "request_id": request_id,
            "outcome": outcome,
            "error_code": error_code,
            "elapsed_s": elapsed_s,
            "thread_id": trace.thread_id,
            "pid": self.pid,
        }
        if error is None:
            REQUESTS.debug(
                "request %s #%d %s in %.6f s", trace.method, request_id, outcome, elapsed_s, extra=extra
            )
            return
        lines = str(error).strip().splitlines()
        REQUESTS.debug(
            "request %s #%d %s: %s%s%s after %.6f s",
            trace.method,
            request_id,
            "cancelled" if cancelled else "failed",
            outcome,
            "" if error_code is None else f" {error_code}",
            f" {lines[0][:200]!r}" if lines else "",
            elapsed_s,
            extra=extra,
        )
