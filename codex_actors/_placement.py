"""Where a request goes in an engine pool (``CodexConfig.engines``): the routing rules, in one place.

* A thread lives on one engine: every request naming it (``threadId``) goes there, as its actor's do.
* A request that opens a thread (start, fork; resume or unarchive of a thread not known here) is placed by a
  :class:`Placement`: first the engine with the fewest threads in use, then, if that engine answered
  "overloaded" (``-32001``, for a new thread) or "already has an active writer" (another engine of the pool has
  the thread loaded: the engines share one ``CODEX_HOME``, and the engine refuses a second writer itself), the
  next one, each engine once.
* An API-key login and a logout reach every engine (each keeps its login in memory); the caller gets the first
  engine's answer. Everything else (lists, models, account, config) goes to the first engine: they share the
  ``CODEX_HOME`` these read.

Without a pool every rule gives engine 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .actors._directory import ACTIVE_WRITER, ThreadDirectory
from .actors._pending import thread_of
from .errors import CodexRpcError, is_retryable_error

__all__ = ["Placement", "every_engine", "route", "thread_of"]

#: The opening requests that make a new thread (any engine may take it: "overloaded" moves it on).
_NEW = frozenset({"thread/start", "thread/fork"})


def route(directory: ThreadDirectory, params: Any) -> int:
    """The engine a plain request goes to: its thread's, or the first."""
    if directory.engines == 1:
        return 0
    thread_id = thread_of(params)
    engine = None if thread_id is None else directory.engine_of(thread_id)
    return 0 if engine is None else engine


def every_engine(method: str, params: Any) -> bool:
    """Whether a request goes to every engine of a pool (an API-key login, a logout)."""
    if method == "account/logout":
        return True
    return method == "account/login/start" and isinstance(params, Mapping) and params.get("type") == "apiKey"


class Placement:
    """The engine an opening request tries now, and whether its error sends it to another (each engine once).

    A placed start counts on its engine until :meth:`release` (so starts made at once spread), which the caller
    calls once the answer came (the thread is then placed by its entry).
    """

    __slots__ = ("_directory", "_new", "_reserved", "_tried", "engine")

    def __init__(self, directory: ThreadDirectory, method: str, params: Any) -> None:
        self._directory = directory
        self._new = method in _NEW
        thread_id = None if method == "thread/start" else thread_of(params)
        known = None if thread_id is None else directory.engine_of(thread_id)
        self._reserved: int | None = None
        if known is not None:
            #: The engine to send to now.
            self.engine = known
        else:
            self.engine = self._reserved = directory.reserve()
        self._tried = {self.engine}

    def spill(self, error: BaseException) -> bool:
        """After ``error`` from :attr:`engine`: whether another engine is to be tried (then :attr:`engine` is it).

        A new thread moves on when its engine is overloaded; a resume when another engine has the thread loaded.
        """
        directory = self._directory
        if len(self._tried) >= directory.engines:
            return False
        overloaded = self._new and is_retryable_error(error)
        elsewhere = isinstance(error, CodexRpcError) and ACTIVE_WRITER in str(error)
        if not (overloaded or elsewhere):
            return False
        self.release()
        self.engine = self._reserved = directory.reserve(exclude=self._tried)
        self._tried.add(self.engine)
        return True

    def release(self) -> None:
        """The request was answered (or failed): its engine no longer counts it."""
        if self._reserved is not None:
            self._directory.unreserve(self._reserved)
            self._reserved = None
