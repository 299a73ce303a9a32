"""The telemetry actor: one per client, where every telemetry event of the client ends up.

Each :class:`~._messages.TelemetryEvent` (from the thread actors, the tool registry, the approval broker, the
root supervisor) moves the client's Prometheus metrics (when ``CodexConfig.metrics`` is on) and is handed to the
handlers attached with ``codex_actors.telemetry.attach``, here, on this actor's thread: a slow or failing
handler holds up no turn and no reader. The port's own events (:class:`~._messages.ProtocolErrorEvent`,
:class:`~._messages.LineDroppedEvent`, :class:`~._messages.EngineExitedEvent`,
:class:`~._messages.EngineStartedEvent`) become the catalogue's ``protocol.error``, ``engine.exit`` and
``engine.start``. It also counts what it receives by kind (:class:`~._messages.GetCounts`)
and keeps a bounded buffer of the latest notifications that belong to no thread.
"""

from __future__ import annotations

import collections
import time
from typing import Any

from .._metrics import Metrics
from .._telemetry_handlers import dispatch
from ._messages import (
    EngineExitedEvent,
    EngineStartedEvent,
    GetCounts,
    HandlerEvent,
    LineDroppedEvent,
    PortEvent,
    ProtocolErrorEvent,
    TelemetryEvent,
    UnownedNotifications,
)
from ._router import NotificationBuffer
from ._supervisor import ChildContext, SupervisedActor

__all__ = ["TelemetryActor", "telemetry_event", "tool_metadata"]


def telemetry_event(name: str, metadata: dict[str, Any], **measurements: float) -> TelemetryEvent:
    """The event ``name``, its ``measurements`` stamped with ``system_time`` (now, unless they say when)."""
    measurements.setdefault("system_time", time.time())
    return TelemetryEvent(name, measurements, metadata)


def tool_metadata(
    tool: str, kind: str, server: str | None, thread_id: str | None, turn_id: str | None, call_id: str | None
) -> dict[str, Any]:
    """The metadata of the ``tool.*`` events of one call (``kind``: ``client`` or ``mcp``)."""
    return {
        "tool": tool,
        "kind": kind,
        "server": server,
        "thread_id": thread_id,
        "turn_id": turn_id,
        "call_id": call_id,
    }


class TelemetryActor(SupervisedActor):
    """Feeds the metrics and the attached handlers, counts events, keeps the latest unowned notifications."""

    use_daemon_thread = True

    def __init__(
        self, context: ChildContext | None = None, metrics: Metrics | None = None, *, buffer_size: int = 1024
    ) -> None:
        super().__init__(context)
        self.metrics = metrics
        self.buffer = NotificationBuffer(buffer_size)
        self.counts: collections.Counter[str] = collections.Counter()

    def on_receive(self, message: Any) -> Any:
        """Report, count and keep what arrives."""
        match message:
            case TelemetryEvent():
                self._publish(message)
            case UnownedNotifications():
                self.buffer(message.items)
                self.counts.update(note.method for note in message.items)
            case ProtocolErrorEvent() | LineDroppedEvent() | EngineExitedEvent() | EngineStartedEvent():
                self.counts[type(message).__name__] += 1
                self._publish(_catalogued(message))
            case HandlerEvent(service=service, kind=kind):
                self.counts[f"{service}.{kind}"] += 1
            case GetCounts():
                return dict(self.counts)
            case _:
                raise TypeError(f"TelemetryActor got an unknown message: {message!r}")
        return None

    def _publish(self, event: TelemetryEvent) -> None:
        self.counts[event.name] += 1
        if self.metrics is not None:
            self.metrics.record(event.name, event.measurements, event.metadata)
        dispatch(event.name, event.measurements, event.metadata)


def _catalogued(event: PortEvent) -> TelemetryEvent:
    """A port's own event as the catalogue's: ``protocol.error``, ``engine.exit`` or ``engine.start``."""
    match event:
        case ProtocolErrorEvent(pid=pid):
            return telemetry_event(
                "protocol.error", {"pid": pid, "kind": "malformed_line", "method": None}, size_bytes=0
            )
        case LineDroppedEvent(pid=pid, size=size, method=method):
            metadata = {"pid": pid, "kind": "line_too_long", "method": method}
            return telemetry_event("protocol.error", metadata, size_bytes=size)
        case EngineExitedEvent(pid=pid, exit_code=exit_code, stderr_tail=tail):
            return telemetry_event(
                "engine.exit", {"pid": pid, "exit_code": exit_code}, stderr_tail_length=len(tail)
            )
        case EngineStartedEvent(pid=pid, generation=generation):
            return telemetry_event("engine.start", {"pid": pid, "generation": generation})
