"""Where an answer goes, and how it is delivered: the three forms of :data:`ReplyTo`, in one place.

A request carries a ``reply``: a pykka future the asker waits on, an :class:`ActorReply` (the answer becomes a
:class:`RequestDone` message to an actor), or a :class:`CallbackReply` (called on the answering thread; this is
how asyncio callers wait without holding a thread). :func:`reply_value` and :func:`reply_error` deliver to any
of them: they never block, and never raise when the receiver is gone. Any of them may be wrapped in a
:class:`Redirect`: a request that never reached the engine (:class:`~codex_actors._failures.NotSent`) is then
handed back to be sent to the next engine, instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

import msgspec
import pykka

from .._failures import NotSent

__all__ = [
    "ActorReply",
    "CallbackReply",
    "Redirect",
    "ReplyTo",
    "RequestDone",
    "is_for",
    "reply_error",
    "reply_value",
    "tell_quietly",
]

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


class Redirect(msgspec.Struct, frozen=True):
    """``reply``, except that a request that never reached the engine calls ``resend(error)`` instead of failing.

    ``resend`` runs on the answering thread and must not block: it hands the request to whoever holds requests
    for the next engine (the root supervisor, a thread's actor), which sends it again with ``reply``.
    """

    reply: ReplyTo
    resend: Callable[[BaseException], None]


#: Where an answer goes: a future the asker waits on, a message to an actor, or a callback (maybe redirected).
ReplyTo: TypeAlias = "pykka.Future[Any] | ActorReply | CallbackReply | Redirect"


def tell_quietly(ref: pykka.ActorRef[Any], message: Any) -> None:
    """Tell ``ref`` ``message``; an actor already gone is not an error (nobody waits on a tell)."""
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)


def is_for(waiting: ReplyTo, reply: ReplyTo) -> bool:
    """Whether ``waiting`` is ``reply``, or redirects to it (how a cancelled request is found)."""
    return waiting is reply or (isinstance(waiting, Redirect) and waiting.reply is reply)


def reply_value(reply: ReplyTo, value: Any) -> None:
    """Deliver ``value``; a future already completed keeps its first outcome."""
    if isinstance(reply, Redirect):
        reply_value(reply.reply, value)
    elif isinstance(reply, ActorReply):
        with contextlib.suppress(pykka.ActorDeadError):
            reply.ref.tell(RequestDone(reply.tag, result=value))
    elif isinstance(reply, CallbackReply):
        _call(reply, value, None)
    else:
        with contextlib.suppress(Exception):  # already completed: the first outcome stands
            reply.set(value)


def reply_error(reply: ReplyTo, error: BaseException) -> None:
    """Deliver ``error`` instead of a value; a future already completed keeps its first outcome."""
    if isinstance(reply, Redirect):
        if isinstance(error, NotSent):
            try:
                reply.resend(error)
            except Exception:  # a broken resend must not take the port down: the asker gets the error
                logger.exception("a resend raised")
            else:
                return
        reply_error(reply.reply, error)
    elif isinstance(reply, ActorReply):
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
