"""Completing a :data:`~codex_actors.actors._messages.ReplyTo`: the one place that knows its three forms.

A pykka future is set (the first outcome wins; later ones are ignored); an :class:`ActorReply` becomes a
:class:`RequestDone` message to its actor; a :class:`CallbackReply` is called. None of these block, and none
raise when the receiver is gone.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pykka

from ._messages import ActorReply, CallbackReply, ReplyTo, RequestDone

__all__ = ["reply_error", "reply_value"]

logger = logging.getLogger("codex_actors.replies")


def reply_value(reply: ReplyTo, value: Any) -> None:
    """Deliver ``value``."""
    if isinstance(reply, ActorReply):
        with contextlib.suppress(pykka.ActorDeadError):
            reply.ref.tell(RequestDone(reply.tag, result=value))
    elif isinstance(reply, CallbackReply):
        _call(reply, value, None)
    else:
        with contextlib.suppress(Exception):  # already completed: the first outcome stands
            reply.set(value)


def reply_error(reply: ReplyTo, error: BaseException) -> None:
    """Deliver ``error``."""
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
