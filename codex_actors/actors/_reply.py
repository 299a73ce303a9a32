"""Where an answer goes, and how it is delivered: the three forms of :data:`ReplyTo`, in one place.

A request carries a ``reply``: a pykka future the asker waits on, an :class:`ActorReply` (the answer becomes a
:class:`RequestDone` message to an actor), or a :class:`CallbackReply` (called on the answering thread; this is
how asyncio callers wait without holding a thread). :func:`reply_value` and :func:`reply_error` deliver to any
of them: they never block, and never raise when the receiver is gone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

import msgspec
import pykka

__all__ = ["ActorReply", "CallbackReply", "ReplyTo", "RequestDone", "reply_error", "reply_value"]

logger = logging.getLogger("codex_actors.replies")


class ActorReply(msgspec.Struct, frozen=True):
    """Deliver a reply as a :class:`RequestDone` message to ``ref``, carrying ``tag``, instead of a future."""

    ref: pykka.ActorRef[Any]
    tag: Any


class RequestDone(msgspec.Struct, frozen=True):
    """Told to the actor of an :class:`ActorReply`: the raw result, or the error, of its request."""

    tag: Any
    result: msgspec.Raw | None = None
    error: BaseException | None = None


class CallbackReply(msgspec.Struct, frozen=True):
    """Deliver a reply by calling ``callback(value, error)`` on the answering thread (it must not block)."""

    callback: Callable[[Any, BaseException | None], None]


#: Where an answer goes: a future the asker waits on, a message to an actor, or a callback.
ReplyTo: TypeAlias = "pykka.Future[Any] | ActorReply | CallbackReply"


def reply_value(reply: ReplyTo, value: Any) -> None:
    """Deliver ``value``; a future already completed keeps its first outcome."""
    if isinstance(reply, ActorReply):
        with contextlib.suppress(pykka.ActorDeadError):
            reply.ref.tell(RequestDone(reply.tag, result=value))
    elif isinstance(reply, CallbackReply):
        _call(reply, value, None)
    else:
        with contextlib.suppress(Exception):  # already completed: the first outcome stands
            reply.set(value)


def reply_error(reply: ReplyTo, error: BaseException) -> None:
    """Deliver ``error`` instead of a value; a future already completed keeps its first outcome."""
    if isinstance(reply, ActorReply):
        with contextlib.suppress(pykka.ActorDeadError):
            reply.ref.tell(RequestDone(reply.tag, error=error))
    elif isinstance(reply, CallbackReply):
        _call(reply, None, error)
    else:
        with contextlib.suppress(Exception):
            reply.set_exception((type(error), error, None))


def _call(reply: CallbackReply, value: Any, error: BaseException | None) -> None:
    try:
        reply.callback(value, error)
    except Exception:  # a broken callback must not take the reader thread or an actor down with it
        logger.exception("a reply callback raised")
