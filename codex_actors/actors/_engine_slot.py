"""One engine of a root supervisor's pool: its child name, its router, its connection and what waits for it.

The root supervises one engine port per slot (``CodexConfig.engines`` of them; one by default). A slot outlives
its engine's restarts, as its :class:`~codex_actors.actors._router.Router` does: the thread actors placed on it
stay bound to that router, and the requests that find its engine down wait here (bounded:
:data:`MAX_HELD_REQUESTS`) for the next one. Only the root supervisor's thread touches a slot, but for
``connection``, which the reader threads read.
"""

from __future__ import annotations

import functools
from typing import Any

import pykka

from ..errors import TransportClosedError
from ._connection import EngineConnection, PendingHandshake
from ._messages import HoldRequest
from ._process import EngineProcess
from ._reply import Redirect, ReplyTo, is_for, reply_error, reply_value
from ._router import Router

__all__ = ["MAX_HELD_REQUESTS", "EngineSlot", "engine_child_name", "redirected"]

#: Plain requests held per engine while it restarts; past this they fail at once.
MAX_HELD_REQUESTS = 1024


def engine_child_name(index: int, count: int) -> str:
    """The supervisor child name of engine ``index`` of ``count``: ``engine`` alone, ``engine:<i>`` in a pool."""
    return "engine" if count == 1 else f"engine:{index}"


class EngineSlot:
    """Engine ``index`` of the pool: what the root knows of it across restarts."""

    __slots__ = (
        "connection",
        "handshake",
        "held",
        "index",
        "name",
        "restart_attempts",
        "restart_reason",
        "router",
        "spawned",
        "started",
        "waiting",
    )

    def __init__(self, index: int, name: str, router: Router, spawned: EngineProcess | None = None) -> None:
        self.index = index
        self.name = name
        self.router = router
        #: The process started for its first port (by the runtime, so it boots while the tree starts).
        self.spawned = spawned
        #: Its connection while its engine is up and has answered ``initialize``.
        self.connection: EngineConnection | None = None
        #: The restarted engine's handshake under way: its generation and the pending handshake.
        self.handshake: tuple[int, PendingHandshake] | None = None
        #: Whether its first start is done (a later start is a restart).
        self.started = False
        #: What waits for its next engine: plain requests, and ``GetConnection`` replies.
        self.held: list[HoldRequest] = []
        self.waiting: list[ReplyTo] = []
        #: Why it is being restarted (told in ``engine.restart``), and attempts since it was last up.
        self.restart_reason = "crashed"
        self.restart_attempts = 0

    def hold(self, supervisor: pykka.ActorRef[Any], request: HoldRequest) -> None:
        """Send ``request`` on this engine if it is up, else keep it for the next one (bounded)."""
        connection = self.connection
        if connection is not None and connection is not request.bounced and connection.alive:
            send(supervisor, connection, request)
        elif len(self.held) >= MAX_HELD_REQUESTS:
            reply_error(request.reply, TransportClosedError("too many requests held while the engine restarts"))
        else:
            self.held.append(request)

    def up(self, supervisor: pykka.ActorRef[Any], connection: EngineConnection) -> None:
        """Its new engine answered its handshake: what waited for it goes out."""
        self.handshake = None
        self.connection = connection
        self.restart_attempts = 0
        waiting, self.waiting = self.waiting, []
        for reply in waiting:
            reply_value(reply, connection)
        held, self.held = self.held, []
        for request in held:
            send(supervisor, connection, request)

    def cancel(self, reply: ReplyTo) -> None:
        """Forget what waits here for ``reply``."""
        self.held = [request for request in self.held if not is_for(request.reply, reply)]
        self.waiting = [waiting for waiting in self.waiting if waiting is not reply]

    def fail_waiting(self) -> list[ReplyTo]:
        """Take every reply waiting here (the caller fails them)."""
        held, self.held = self.held, []
        waiting, self.waiting = self.waiting, []
        return [request.reply for request in held] + waiting


def send(supervisor: pykka.ActorRef[Any], connection: EngineConnection, request: HoldRequest) -> None:
    """Send a held request on ``connection`` (held at the root again if its engine is gone first)."""
    reply = redirected(supervisor, connection, request.method, request.params, request.reply)
    connection.send(request.method, request.params, reply)


def _hold_again(
    supervisor: pykka.ActorRef[Any], request: HoldRequest, bounced: EngineConnection, error: BaseException
) -> None:
    try:
        supervisor.tell(HoldRequest(request.method, request.params, request.reply, bounced, request.engine))
    except pykka.ActorDeadError:
        reply_error(request.reply, error)


def redirected(
    supervisor: pykka.ActorRef[Any], connection: EngineConnection, method: str, params: Any, reply: ReplyTo
) -> Redirect:
    """``reply``, for a request sent on ``connection``: if its engine was gone first, the root holds it instead.

    It is held for the same engine of the pool (``connection``'s).
    """
    request = HoldRequest(method, params, reply, engine=connection.router.engine)
    return Redirect(reply, functools.partial(_hold_again, supervisor, request, connection))
