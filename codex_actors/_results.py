"""``TurnResult`` and how it is assembled from a turn's notifications (the official SDK's rules).

* ``items``: every ``item/completed`` item of the turn, in order (the user's own message included);
* ``usage``: the last ``thread/tokenUsage/updated`` of the turn (``None`` if none came);
* ``id``, ``status``, ``error`` and the timings: from ``turn/completed``;
* ``final_response``: scanning items from the end, the first agent message in the ``final_answer`` phase;
  otherwise the last agent message with no phase; otherwise ``None`` (commentary never counts; ``""`` is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._protocol.generated import (
    AgentMessageThreadItem,
    ItemCompletedNotification,
    MessagePhase,
    ThreadItem,
    ThreadTokenUsage,
    ThreadTokenUsageUpdatedNotification,
    Turn,
    TurnCompletedNotification,
    TurnError,
    TurnStatus,
)

__all__ = ["RESULT_METHODS", "TurnAccumulator", "TurnResult", "final_response_of", "result_or_raise"]

#: The methods whose payloads change a turn's result; everything else can skip :meth:`TurnAccumulator.add`.
RESULT_METHODS = frozenset({"item/completed", "thread/tokenUsage/updated", "turn/completed"})


@dataclass(slots=True)
class TurnResult:
    """What a finished turn produced."""

    id: str
    status: TurnStatus
    error: TurnError | None
    started_at: int | None
    completed_at: int | None
    duration_ms: int | None
    final_response: str | None
    items: list[ThreadItem]
    usage: ThreadTokenUsage | None
    #: With ``output_type=``: the final response validated into that type (this project's addition).
    parsed: Any = None


def final_response_of(items: list[ThreadItem]) -> str | None:
    """The turn's answer by the official rules (see the module docstring)."""
    phaseless: str | None = None
    for item in reversed(items):
        if not isinstance(item, AgentMessageThreadItem):
            continue
        if item.phase == MessagePhase.final_answer:
            return item.text
        if item.phase is None and phaseless is None:
            phaseless = item.text
    return phaseless


@dataclass(slots=True)
class TurnAccumulator:
    """Builds one turn's :class:`TurnResult` incrementally, one typed payload at a time."""

    turn_id: str
    items: list[ThreadItem] = field(default_factory=list)
    usage: ThreadTokenUsage | None = None
    completed: Turn | None = None

    def add(self, payload: Any) -> bool:
        """Take one payload of this turn; True once it was the turn's ``turn/completed``."""
        if isinstance(payload, ItemCompletedNotification):
            if payload.turn_id == self.turn_id:
                self.items.append(payload.item)
        elif isinstance(payload, ThreadTokenUsageUpdatedNotification):
            if payload.turn_id == self.turn_id:
                self.usage = payload.token_usage
        elif isinstance(payload, TurnCompletedNotification) and payload.turn.id == self.turn_id:
            self.completed = payload.turn
            return True
        return False

    def result(self) -> TurnResult:
        """The result; only valid once ``turn/completed`` was added."""
        turn = self.completed
        if turn is None:
            raise RuntimeError("turn completed event not received")
        return TurnResult(
            id=turn.id,
            status=turn.status,
            error=turn.error,
            started_at=turn.started_at,
            completed_at=turn.completed_at,
            duration_ms=turn.duration_ms,
            final_response=final_response_of(self.items),
            items=list(self.items),
            usage=self.usage,
        )


def result_or_raise(result: TurnResult) -> TurnResult:
    """``result`` as ``run()`` returns it: a failed turn raises ``RuntimeError`` with its message instead."""
    if result.status == TurnStatus.failed:
        message = None if result.error is None else result.error.message
        raise RuntimeError(message or "turn failed with status failed")
    return result
