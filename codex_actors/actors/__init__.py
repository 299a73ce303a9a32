"""The actor-level API: the messages a service exchanges with a runtime's actors, and the supervision they use.

Most programs need none of this: ``Codex`` and ``Thread`` are the API. These names are public so that a
long-lived service can work with the actor tree directly, by message, without a caller thread blocking:

* a thread's address (``thread.actor_ref``, or ``codex.thread_ref(thread_id)``: a :class:`ThreadRef`, stable
  across hibernation, actor crashes and engine restarts) runs a turn for another actor: tell it
  :class:`RunTurn` (``Thread.run``'s input and options), get a :class:`TurnFinished` back;
* the root supervisor (``codex.supervisor``) answers :class:`WhichChildren`, :class:`GetChild`,
  :class:`StartThread` and :class:`StopThread`; the telemetry actor (``GetChild("telemetry")``) answers
  :class:`GetCounts`; the port's events (:class:`EngineExitedEvent`, :class:`LineDroppedEvent`,
  :class:`ProtocolErrorEvent`) are what telemetry counts;
* :class:`Supervisor`, :class:`SupervisedActor`, :class:`ChildSpec` and :class:`RestartPolicy` are the OTP-style
  supervision the runtime is built on (pykka has none), usable for a service's own actors.

Everything else in this package is private: the port, the reader, the thread actor, their own messages.
"""

from __future__ import annotations

from ._directory import ThreadRef
from ._messages import (
    EngineExitedEvent,
    GetCounts,
    LineDroppedEvent,
    ProtocolErrorEvent,
    RunTurn,
    StartThread,
    StopThread,
    TurnFinished,
)
from ._supervisor import (
    ChildContext,
    ChildExited,
    ChildInfo,
    ChildSpec,
    GetChild,
    RestartPolicy,
    StartChild,
    SupervisedActor,
    Supervisor,
    SupervisorGaveUp,
    TerminateChild,
    WhichChildren,
)

__all__ = [
    "ChildContext",
    "ChildExited",
    "ChildInfo",
    "ChildSpec",
    "EngineExitedEvent",
    "GetChild",
    "GetCounts",
    "LineDroppedEvent",
    "ProtocolErrorEvent",
    "RestartPolicy",
    "RunTurn",
    "StartChild",
    "StartThread",
    "StopThread",
    "SupervisedActor",
    "Supervisor",
    "SupervisorGaveUp",
    "TerminateChild",
    "ThreadRef",
    "TurnFinished",
    "WhichChildren",
]
