"""A Codex thread hosted as a named Ray actor: its own engine on a Ray node, driven from any task or actor.

Install the extra (``pip install 'codex-actors[ray]'``). Then::

    import ray

    from codex_actors import ApprovalMode
    from codex_actors.ray import get_thread, host_thread

    ray.init()
    thread = host_thread("reviewer", approval_mode=ApprovalMode.deny_all)  # a new thread, in its own actor
    print(thread.run("Review the diff.").final_response)


    @ray.remote
    def follow_up() -> str | None:
        return get_thread("reviewer").run("And the tests?").final_response  # found by name, anywhere


    print(ray.get(follow_up.remote()))
    thread.close()

* :func:`host_thread` creates (or, by name, gets) an actor that owns one :class:`~codex_actors.Codex` (its own
  engine, supervised as in any process) and one thread: a new one (``thread_start(**thread_start_kwargs)``) or,
  with ``thread_id``, that one resumed. :func:`get_thread` finds it by name.
* :class:`RayThread` is the handle (it pickles: pass it to tasks and actors). It has ``Thread``'s API where it
  makes sense across a wire: ``id``, ``run``, ``turn`` (a :class:`RayTurn`: ``stream``, ``run``, ``interrupt``,
  ``steer``), ``read``, ``set_name``, ``compact``; plus ``info``, ``close`` and ``kill`` for the host.
* Results, notifications and errors cross as the same types: an error raised in the host is raised by the
  caller as its own class (``except UnknownThreadError`` works), with the host's traceback as a note. The host
  dying under a call raises :class:`~codex_actors.errors.TransportClosedError` ("the Ray host ... died"), never a
  Ray error.
* Restarts: the actor has ``max_restarts`` (3 unless ``ray_options`` says otherwise) and ``max_task_retries=0``:
  a turn is not idempotent, so one in flight when the host died fails and is never re-run by itself. The
  restarted host resumes the same thread by id (recorded in the node's ``CODEX_HOME``, and named by every call),
  with its history.
* Where the state lives: the thread is in the engine's ``CODEX_HOME`` on the host's node. A host restarted on
  another node finds it only if ``CODEX_HOME`` is on a shared filesystem; otherwise pin the host to its node
  (``ray_options={"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}``).
* Credentials: ``CodexConfig.api_key`` travels in the actor's creation arguments (Ray keeps them; the config's
  ``repr`` masks the key). Better: leave it unset and set ``CODEX_API_KEY`` in each node's environment, which
  the host's client reads there: nothing is shipped.
* A host created inside a task or an actor belongs to it (Ray stops it with its owner) unless
  ``ray_options={"lifetime": "detached"}``. With ``get_if_exists`` (the default) the name decides: an existing
  host is returned as it is, whatever ``config`` and the thread options say.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Mapping
from typing import Any

import ray
from ray.exceptions import LocalRayletDiedError, NodeDiedError, RayActorError, RayError, RayTaskError

from ._config import CodexConfig
from ._inputs import Input, RunInput
from ._protocol.generated import (
    ThreadCompactStartResponse,
    ThreadReadResponse,
    ThreadSetNameResponse,
    TurnInterruptResponse,
    TurnSteerResponse,
)
from ._ray_host import MAX_BATCH, HostInfo, ThreadHost
from ._ray_wire import WireError, wire_error
from ._results import TurnResult
from .errors import TransportClosedError
from .models import Notification

__all__ = ["DEFAULT_RAY_OPTIONS", "HostInfo", "RayThread", "RayTurn", "get_thread", "host_thread"]

#: The actor options a host gets unless ``ray_options`` changes them (``max_task_retries`` must stay 0).
DEFAULT_RAY_OPTIONS: Mapping[str, Any] = {
    "max_restarts": 3,
    "max_task_retries": 0,
    "max_concurrency": 32,
    "get_if_exists": True,
}

#: Seconds one pull of a turn's events waits in the host for something new before it answers ``[]``.
POLL_S = 10.0

_DIED = (RayActorError, NodeDiedError, LocalRayletDiedError)

#: The host's calls that may run twice with the same effect: sent with retries, so they wait for a restarting
#: host. The others (a turn's start, steer, interrupt, compact) run at most once: ``max_task_retries=0``.
_REPEATABLE = frozenset({"info", "read", "events", "turn_result", "set_name", "shutdown"})


class _RayHost(ThreadHost):
    """The actor: a :class:`ThreadHost` told its namespace, node, and whether Ray restarted it.

    ``call`` runs at most once (the actor's ``max_task_retries=0``); ``query`` runs the repeatable calls, which Ray
    sends again to a restarted host (so they wait for one that is restarting).
    """

    def __init__(
        self, name: str, config: CodexConfig | None, thread_id: str | None, start_kwargs: Mapping[str, Any]
    ) -> None:
        context = ray.get_runtime_context()
        super().__init__(
            name,
            context.namespace,
            config,
            thread_id,
            start_kwargs,
            # Outside an actor (the class used directly), Ray has no answer: not a restart.
            reconstructed=context.get_actor_id() is not None and context.was_current_actor_reconstructed,
            node_id=context.get_node_id(),
        )

    @ray.method(max_task_retries=-1)
    def query(self, method: str, *args: Any) -> Any:
        """:meth:`ThreadHost.call` of one of the repeatable calls (:data:`_REPEATABLE`)."""
        if method not in _REPEATABLE:
            return wire_error(ValueError(f"{method!r} is not a repeatable call of a Ray thread host"))
        return self.call(method, *args)


_HostActor: Any = ray.remote(_RayHost)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fetch(ref: Any, name: str) -> Any:
    """``ray.get(ref)``: the host's answer (a value or a :class:`WireError`); its death as TransportClosedError."""
    try:
        return ray.get(ref)
    except _DIED as exc:
        raise TransportClosedError(
            f"the Ray host {name!r} died or was stopped ({_first_line(exc)}); a call in flight on it failed and "
            "is not re-run"
        ) from exc
    except RayTaskError as exc:  # not raised by a host's call (it answers errors); unwrapped all the same
        cause = exc.cause
        if isinstance(cause, BaseException) and not isinstance(cause, RayError):
            raise cause from None
        raise


def _get(ref: Any, name: str) -> Any:
    """The host's answer to ``ref``; an error it answered is raised as its own type."""
    value = _fetch(ref, name)
    if isinstance(value, WireError):
        raise value.rebuild(f"in the Ray host {name!r}")
    return value


def _options(ray_options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = {**DEFAULT_RAY_OPTIONS, **(ray_options or {})}
    for key in ("name", "namespace"):
        if ray_options is not None and key in ray_options:
            raise ValueError(f"pass the host's {key} as host_thread's own argument, not in ray_options")
    if options["max_task_retries"] != 0:
        raise ValueError("max_task_retries must be 0: a turn is not idempotent, Ray must never run one twice")
    return options


def host_thread(
    name: str,
    config: CodexConfig | None = None,
    *,
    namespace: str | None = None,
    thread_id: str | None = None,
    ray_options: Mapping[str, Any] | None = None,
    **thread_start_kwargs: Any,
) -> RayThread:
    """Host a Codex thread in the Ray actor ``name`` (created, or got if it exists) and return its handle.

    The actor owns ``Codex(config)`` (``None``: the node's own setup, ``CODEX_API_KEY`` and all) and one thread:
    a new one, started with ``thread_start_kwargs`` (``Codex.thread_start``'s), or with ``thread_id`` that one
    resumed (the kwargs ``Codex.thread_resume`` takes are passed on). ``namespace`` is the Ray namespace (the
    job's when ``None``); ``ray_options`` are more actor options, over :data:`DEFAULT_RAY_OPTIONS` (``num_cpus``,
    ``lifetime``, ``scheduling_strategy``, ``max_restarts``...).

    A new host that cannot start its client or its thread is stopped, and the error raised here as its own type
    (``UnknownThreadError`` for a ``thread_id`` the engine does not know). An existing host of that name that
    hosts another thread than ``thread_id`` is a ``ValueError``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a Ray host needs a non-empty name, got {name!r}")
    options = _options(ray_options)
    if config is not None and config.metrics_registry is not None:
        raise ValueError("a metrics_registry cannot be sent to a Ray host; its client reports to its own process")
    actor = _HostActor.options(name=name, namespace=namespace, **options).remote(
        name, config, thread_id, dict(thread_start_kwargs)
    )
    info = _fetch(actor.query.remote("info", None), name)
    if isinstance(info, WireError):
        ray.kill(actor, no_restart=True)  # it cannot host anything: the name is free again
        raise info.rebuild(f"in the Ray host {name!r}")
    if thread_id is not None and info.thread_id != thread_id:
        raise ValueError(f"the Ray host {name!r} already hosts thread {info.thread_id}, not {thread_id}")
    return RayThread(actor, info)


def get_thread(name: str, *, namespace: str | None = None) -> RayThread:
    """The handle of the thread hosted by the Ray actor ``name`` (in ``namespace``, the job's when ``None``).

    Works from the driver, any task or any actor of the cluster; waits for a host that is restarting. No host of
    that name is a ``LookupError``.
    """
    try:
        actor = ray.get_actor(name, namespace=namespace)
    except ValueError:
        where = "" if namespace is None else f" in namespace {namespace!r}"
        raise LookupError(f"no Ray host named {name!r}{where}") from None
    info: HostInfo = _get(actor.query.remote("info", None), name)
    return RayThread(actor, info)


class RayThread:
    """A thread hosted by a Ray actor: ``Thread``'s API, each call a call on the actor. It pickles.

    ``id`` is the thread's, ``name`` and ``namespace`` the host's. Every call names the thread, so a restarted
    host resumes it first if it has to.
    """

    __slots__ = ("_actor", "_suspect", "id", "name", "namespace")

    def __init__(self, actor: Any, info: HostInfo, *, suspect: bool = False) -> None:
        if info.thread_id is None:
            raise TransportClosedError(f"the Ray host {info.name!r} does not know its thread's id")
        self._actor = actor
        self.id: str = info.thread_id
        self.name: str = info.name
        self.namespace: str = info.namespace
        #: Whether the host may be down or restarting (this handle saw it die, or was just unpickled): a call that
        #: runs at most once then first waits for the host to answer.
        self._suspect = suspect

    def __repr__(self) -> str:
        return f"RayThread(id={self.id!r}, name={self.name!r}, namespace={self.namespace!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_thread, (self._actor, self.id, self.name, self.namespace))

    @property
    def actor(self) -> Any:
        """The Ray actor handle of the host."""
        return self._actor

    def _call(self, method: str, *args: Any) -> Any:
        if method in _REPEATABLE:  # waits for a restarting host (Ray sends it again once the host is back)
            call = self._actor.query
        else:
            call = self._actor.call
            if self._suspect:
                self._call("info")
        try:
            value = _get(call.remote(method, self.id, *args), self.name)
        except TransportClosedError as exc:
            self._suspect = isinstance(exc.__cause__, _DIED)
            raise
        self._suspect = False
        return value

    def run(self, input: RunInput, **turn_kwargs: Any) -> TurnResult:
        """Run a whole turn in the host (``Thread.run``'s options) and return its result.

        A failed turn raises ``RuntimeError`` with its message, as ``Thread.run`` does.
        """
        result: TurnResult = self._call("run", input, turn_kwargs)
        return result

    def turn(self, input: RunInput, **turn_kwargs: Any) -> RayTurn:
        """Start a turn (or join the thread's active one, as ``Thread.turn``) and return its handle."""
        turn_id: str = self._call("start_turn", input, turn_kwargs)
        return RayTurn(self, turn_id)

    def read(self, *, include_turns: bool = False) -> ThreadReadResponse:
        """Read this thread, optionally with its turns."""
        response: ThreadReadResponse = self._call("read", include_turns)
        return response

    def set_name(self, name: str) -> ThreadSetNameResponse:
        """Name this thread."""
        response: ThreadSetNameResponse = self._call("set_name", name)
        return response

    def compact(self) -> ThreadCompactStartResponse:
        """Start compacting this thread's history."""
        response: ThreadCompactStartResponse = self._call("compact")
        return response

    def info(self) -> HostInfo:
        """Where the thread lives now: the host's worker pid and node, and whether it is a restarted one."""
        info: HostInfo = self._call("info")
        return info

    def close(self) -> None:
        """Stop the host: its client and engine close, its record goes (the name is free), then the actor.

        The thread stays in the engine's ``CODEX_HOME`` and can be hosted again with ``thread_id``. Idempotent.
        """
        with contextlib.suppress(TransportClosedError):  # already gone
            self._call("shutdown")
        ray.kill(self._actor, no_restart=True)

    def kill(self, *, no_restart: bool = True) -> None:
        """Kill the host's actor at once (``ray.kill``); ``no_restart=False``: Ray restarts it, as after a crash.

        Its record stays, so a host of the same name later resumes the same thread.
        """
        ray.kill(self._actor, no_restart=no_restart)


def _rebuild_thread(actor: Any, thread_id: str, name: str, namespace: str) -> RayThread:
    return RayThread(actor, HostInfo(name, namespace, thread_id, 0, None, False), suspect=True)


class RayTurn:
    """A turn started on a :class:`RayThread`: ``TurnHandle``'s API. It pickles.

    Its events are pulled from the host in batches (one reader per turn: two handles of one turn would split its
    events between them). The host holds the turn until its result is taken, or until it is among the oldest
    ended turns past the host's bound.
    """

    __slots__ = ("_streamed", "_thread", "id")

    def __init__(self, thread: RayThread, turn_id: str) -> None:
        self._thread = thread
        self.id = turn_id
        self._streamed = False

    def __repr__(self) -> str:
        return f"RayTurn(id={self.id!r}, thread_id={self.thread_id!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (RayTurn, (self._thread, self.id))

    @property
    def thread_id(self) -> str:
        """The id of the turn's thread."""
        return self._thread.id

    def stream(self, *, interrupt_on_close: bool = False) -> Generator[Notification, None, None]:
        """Yield the turn's notifications, ending after its ``turn/completed`` (``TurnHandle.stream``).

        A second ``stream()`` raises ``TransportClosedError("Turn subscription closed")``. Closed before the turn
        ended, it leaves the turn running, or with ``interrupt_on_close=True`` interrupts it.
        """
        if self._streamed:
            raise TransportClosedError("Turn subscription closed")
        self._streamed = True
        return self._events(interrupt_on_close)

    def _events(self, interrupt_on_close: bool) -> Generator[Notification, None, None]:
        ended, offset = False, 0
        try:
            while not ended:
                batch, ended = self._thread._call("events", self.id, offset, MAX_BATCH, POLL_S)
                offset += len(batch)
                yield from batch
        finally:
            if interrupt_on_close and not ended:
                with contextlib.suppress(Exception):  # best effort, as TurnHandle's: the turn may have ended
                    self.interrupt()

    def run(self) -> TurnResult:
        """Wait for the turn's end (reading what was not streamed, in the host) and return its result.

        A failed turn raises ``RuntimeError`` with its message.
        """
        result: TurnResult = self._thread._call("turn_result", self.id)
        return result

    def interrupt(self) -> TurnInterruptResponse:
        """Ask the engine to interrupt this turn (it then completes with status ``interrupted``)."""
        response: TurnInterruptResponse = self._thread._call("interrupt", self.id)
        return response

    def steer(self, input: Input | str) -> TurnSteerResponse:
        """Send more user input to this active turn."""
        response: TurnSteerResponse = self._thread._call("steer", self.id, input)
        return response
