"""``ServiceSetup``: what the tool registry and the approval broker are started with.

Both answer server requests with user code (tools, policies), and both need the same few things: the client's
configuration (its tools, its policy, its limits), the thread directory (a thread's own tools and policy live on
its entry, see :class:`~codex_actors.actors._directory.ThreadServices`), the runtime's timers (the calls'
timeouts) and a way to tell the telemetry actor what went wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._config import CodexConfig
from ._directory import ThreadDirectory, ThreadServices
from ._timers import Timers

__all__ = ["ServiceSetup"]


@dataclass(frozen=True)
class ServiceSetup:
    """The client's configuration, its thread directory and timers, and the telemetry sink of a service."""

    config: CodexConfig
    directory: ThreadDirectory
    timers: Timers
    #: Tells the telemetry actor an event (quietly: never raises, even while telemetry restarts).
    telemetry: Callable[[Any], None]

    def thread_services(self, thread_id: str | None) -> ThreadServices | None:
        """The thread's own tools and policy, while anything refers to it (``None``: none of its own)."""
        if thread_id is None:
            return None
        entry = self.directory.find(thread_id)
        return None if entry is None else entry.services
