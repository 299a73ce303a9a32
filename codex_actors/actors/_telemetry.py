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
    ProtocolErrorEvent,
    TelemetryEvent,
    UnownedNotifications,
)
from ._router import NotificationBuffer
from ._supervisor import ChildContext, SupervisedActor

__all__ = ["TelemetryActor", "telemetry_event"]


def telemetry_event(name: str, metadata: dict[str, Any], **measurements: float) -> TelemetryEvent:
    """The event ``name`` happening now: ``system_time`` added to its ``measurements``."""
    measurements["system_time"] = time.time()
    return TelemetryEvent(name, measurements, metadata)


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
            case TelemetryEvent(name=name, measurements=measurements, metadata=metadata):
                self._publish(name, measurements, metadata)
            case UnownedNotifications():
                self.buffer(message.items)
                self.counts.update(note.method for note in message.items)
            case ProtocolErrorEvent(pid=pid):
                self.counts[type(message).__name__] += 1
                self._publish(
                    "protocol.error",
                    {"system_time": time.time(), "size_bytes": 0},
                    {"pid": pid, "kind": "malformed_line", "method": None},
                )
            case LineDroppedEvent(pid=pid, size=size, method=method):
                self.counts[type(message).__name__] += 1
                self._publish(
                    "protocol.error",
                    {"system_time": time.time(), "size_bytes": size},
                    {"pid": pid, "kind": "line_too_long", "method": method},
                )
            case EngineExitedEvent(pid=pid, exit_code=exit_code, stderr_tail=tail):
                self.counts[type(message).__name__] += 1
                self._publish(
                    "engine.exit",
                    {"system_time": time.time(), "stderr_tail_length": len(tail)},
                    {"pid": pid, "exit_code": exit_code},
                )
            case EngineStartedEvent(pid=pid, generation=generation):
                self.counts[type(message).__name__] += 1
                self._publish("engine.start", {"system_time": time.time()}, {"pid": pid, "generation": generation})
            case HandlerEvent(service=service, kind=kind):
                self.counts[f"{service}.{kind}"] += 1
            case GetCounts():
                return dict(self.counts)
            case _:
                raise TypeError(f"TelemetryActor got an unknown message: {message!r}")
        return None

    def _publish(self, name: str, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
        self.counts[name] += 1
        if self.metrics is not None:
            self.metrics.record(name, measurements, metadata)
        dispatch(name, measurements, metadata)
