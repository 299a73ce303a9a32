"""Routing keys: which thread (and turn) an engine notification belongs to, read without decoding it fully.

The reader thread needs only ``threadId`` and the turn id (``turnId``, or ``turn.id`` on ``turn/started`` and
``turn/completed``) to hand a notification to its owner; msgspec skips every other member of ``params``.
"""

from __future__ import annotations

import msgspec

__all__ = ["RouteKeys", "route_keys"]


class _TurnRef(msgspec.Struct):
    id: str | None = None


class RouteKeys(msgspec.Struct, frozen=True):
    """The routing members of a notification's params; each is ``None`` when absent or not a string."""

    threadId: str | None = None
    turnId: str | None = None
    turn: _TurnRef | None = None

    @property
    def thread_id(self) -> str | None:
        """The thread the notification belongs to."""
        return self.threadId

    @property
    def turn_id(self) -> str | None:
        """The turn the notification belongs to (``turnId``, else ``turn.id``)."""
        if self.turnId is not None:
            return self.turnId
        return None if self.turn is None else self.turn.id


_NO_KEYS = RouteKeys()
_decode_keys = msgspec.json.Decoder(RouteKeys).decode


def route_keys(params: msgspec.Raw | bytes) -> RouteKeys:
    """The routing keys of raw notification params; never raises (odd shapes just have no keys)."""
    try:
        return _decode_keys(params)
    except msgspec.DecodeError:
        return _NO_KEYS
