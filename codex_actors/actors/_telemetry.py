"""The telemetry actor: where port events and notifications that belong to no thread end up.

Minimal for now: it counts what it receives by kind and keeps a bounded buffer of the latest unowned
notifications. Attached handlers and Prometheus metrics plug in here.
"""

from __future__ import annotations

import collections
from typing import Any

from ._messages import (
    EngineExitedEvent,
    GetCounts,
    HandlerEvent,
    LineDroppedEvent,
    ProtocolErrorEvent,
    UnownedNotifications,
)
from ._router import NotificationBuffer
from ._supervisor import ChildContext, SupervisedActor

__all__ = ["TelemetryActor"]


class TelemetryActor(SupervisedActor):
    """Counts events and keeps the latest unowned notifications (``buffer``, bounded)."""

    use_daemon_thread = True

    def __init__(self, context: ChildContext | None = None, *, buffer_size: int = 1024) -> None:
        super().__init__(context)
        self.buffer = NotificationBuffer(buffer_size)
        self.counts: collections.Counter[str] = collections.Counter()

    def on_receive(self, message: Any) -> Any:
        """Count and keep what arrives."""
        match message:
            case UnownedNotifications():
                self.buffer(message.items)
                self.counts.update(note.method for note in message.items)
            case EngineExitedEvent() | LineDroppedEvent() | ProtocolErrorEvent():
                self.counts[type(message).__name__] += 1
            case HandlerEvent(service=service, kind=kind):
                self.counts[f"{service}.{kind}"] += 1
            case GetCounts():
                return dict(self.counts)
            case _:
                raise TypeError(f"TelemetryActor got an unknown message: {message!r}")
        return None
