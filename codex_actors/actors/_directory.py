"""Thread addresses: a :class:`ThreadRef` names a Codex thread's actor by thread id, like a registered name in OTP.

A thread's actor comes and goes: it hibernates when idle, it is restarted after a crash, it is started on first
use. Its address stays. A :class:`ThreadRef` delivers to whichever incarnation is running and asks the root
supervisor to start one when none is, so holders never see a stale ``pykka.ActorRef`` nor pykka's errors.

The :class:`ThreadDirectory` of a runtime holds one :class:`ThreadEntry` per thread some address or live actor
refers to (weakly: an entry nobody refers to goes, so the directory is bounded by the threads in use). The
entry's lock makes hibernation safe: a sender puts its message in the current actor's inbox while holding it,
and an actor gives up its address (``entry.ref = None``) only while holding it *and* with an empty inbox, so no
message is ever left behind in a stopping actor.

With an engine pool (``CodexConfig.engines``), the directory also says where each thread lives: its entry's
``engine``, the index of the engine that has it (a thread stays there: every request and resume of it goes to
that engine), and each engine's generation (one more after each of its restarts). A new thread is placed on the
engine with the fewest threads in use (:meth:`ThreadDirectory.reserve`); the engines of the last
:data:`PLACEMENTS_KEPT` threads placed are remembered past their entries, so a thread used again by id alone goes
back to the engine that still has it loaded.
"""

from __future__ import annotations

import collections
import functools
import threading
import weakref
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import pykka

from .._failures import fresh, not_running
from .._tool import Tool
from ..approvals import ApprovalPolicy
from ..errors import TransportClosedError, UnknownMessageError
from ._messages import RunTurn, StartThread


class _Escalated(Protocol):
    """Where a runtime records that its supervisor gave up (the root's ``Escalation``)."""

    @property
    def error(self) -> BaseException | None:
        """The error its callers get, once it gave up."""
        ...


__all__ = ["ThreadDirectory", "ThreadEntry", "ThreadRef", "ThreadServices"]

#: Seconds a revival waits for the root supervisor (it answers at once unless it is restarting the engine).
SUPERVISOR_TIMEOUT = 60.0
#: What the engine answers a resume of a thread that another process (another engine of the pool) has loaded.
ACTIVE_WRITER = "already has an active writer"
#: Threads whose engine is remembered after nothing refers to them any more (a bounded, least recently placed
#: first, memory): used again by id, they go back to the engine that has them loaded.
PLACEMENTS_KEPT = 65_536
#: Ids of a thread's finished turns remembered across hibernations (a late subscriber then gets an ended log).
FORGOTTEN_TURNS_KEPT = 256


@dataclass(frozen=True, slots=True)
class ThreadServices:
    """What one thread adds to its client's services: its own tools, its own policy, what a resume sends again.

    ``tools`` by name; ``resume``: the params the runtime sends again when it resumes the thread on a new engine.

    Kept on the thread's entry, so it lives exactly as long as something refers to the thread (a ``Thread``, a
    ``ThreadRef``, its running actor): thousands of threads touched over weeks leave nothing behind.
    """

    tools: Mapping[str, Tool] = field(default_factory=dict)
    approval_policy: ApprovalPolicy | None = None
    #: Params its ``thread/resume`` after an engine restart sends again (its approval settings, MCP servers).
    resume: Mapping[str, Any] = field(default_factory=dict)


class ThreadEntry:
    """What a runtime knows of one thread while anything refers to it: its live actor and where it is loaded."""

    __slots__ = ("__weakref__", "engine", "forgotten", "loaded", "lock", "model", "ref", "services", "thread_id")

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        self.lock = threading.Lock()
        #: The running actor, or ``None`` (hibernated, never started, crashed and not yet restarted).
        self.ref: pykka.ActorRef[Any] | None = None
        #: The engine generation that has this thread loaded (``None``: none known; the actor resumes it first).
        self.loaded: int | None = None
        #: The index of the engine of the pool this thread lives on (``None``: not placed yet).
        self.engine: int | None = None
        #: Ids of turns that ended and are no longer kept, oldest first (bounded).
        self.forgotten: collections.OrderedDict[str, None] = collections.OrderedDict()
        #: This thread's own tools and approval policy (``None``: only the client's), set when it is opened.
        self.services: ThreadServices | None = None
        #: The thread's model, as the engine last named it (telemetry labels turns with it).
        self.model: str | None = None

    def forget_turn(self, turn_id: str) -> None:
        """Remember that ``turn_id`` ended (the oldest such ids are dropped past the bound)."""
        forgotten = self.forgotten
        forgotten[turn_id] = None
        while len(forgotten) > FORGOTTEN_TURNS_KEPT:
            forgotten.popitem(last=False)


class _Settle:
    """A ``reply_to`` for an asked :class:`RunTurn`: its :class:`TurnFinished` completes the asker's future."""

    __slots__ = ("future",)

    def __init__(self, future: pykka.Future[Any]) -> None:
        self.future = future

    def tell(self, message: Any) -> None:
        self.future.set(message)


class _SdkFuture(pykka.ThreadingFuture[Any]):
    """A pykka future whose ``get`` raises SDK errors, never ``ActorDeadError``."""

    def get(self, *, timeout: float | None = None) -> Any:
        try:
            return super().get(timeout=timeout)
        except pykka.ActorDeadError:
            raise TransportClosedError("the thread's actor stopped before answering") from None
        except pykka.Timeout:
            raise TimeoutError(f"no answer within {timeout:g} s") from None


class ThreadDirectory:
    """The thread entries of one runtime, and the revival of a thread's actor by its root supervisor."""

    def __init__(self, escalation: _Escalated | None = None, engines: int = 1) -> None:
        self._entries: weakref.WeakValueDictionary[str, ThreadEntry] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._escalation = escalation
        #: The root supervisor that starts thread actors (set when it starts).
        self.supervisor: pykka.ActorRef[Any] | None = None
        #: Each engine's generation: 0 for its first process, one more after each restart.
        self.generations = [0] * engines
        #: The entries placed on each engine (what its load is), the starts placed there and not answered yet.
        self._placed: list[weakref.WeakSet[ThreadEntry]] = [weakref.WeakSet() for _ in range(engines)]
        self._reserved = [0] * engines
        self._turn = 0
        #: The engines of the threads placed last (see :data:`PLACEMENTS_KEPT`).
        self._remembered: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.closed = False

    @property
    def engines(self) -> int:
        """How many engines the pool has."""
        return len(self.generations)

    def loads(self) -> list[int]:
        """The threads in use on each engine (entries something refers to)."""
        return [len(placed) for placed in self._placed]

    def reserve(self, exclude: Collection[int] = ()) -> int:
        """The engine a new thread goes to: the fewest threads in use and starts under way (ties in turn).

        Not one of ``exclude`` (unless that is every engine). Give it back with :meth:`unreserve` once the start
        was answered (or failed).
        """
        count = len(self.generations)
        if count == 1:
            return 0
        with self._lock:
            turn = self._turn = (self._turn + 1) % count
            candidates = [i for i in range(count) if i not in exclude] or list(range(count))
            engine = min(candidates, key=lambda i: (len(self._placed[i]) + self._reserved[i], (i - turn) % count))
            self._reserved[engine] += 1
            return engine

    def unreserve(self, engine: int) -> None:
        """A start :meth:`reserve` placed on ``engine`` was answered (its thread is placed now) or failed."""
        if len(self.generations) > 1:
            with self._lock:
                self._reserved[engine] -= 1

    def engine_of(self, thread_id: str) -> int | None:
        """The engine ``thread_id`` lives on, if known (its entry's, or remembered)."""
        entry = self._entries.get(thread_id)
        if entry is not None and entry.engine is not None:
            return entry.engine
        return self._remembered.get(thread_id)

    def place(self, entry: ThreadEntry) -> int:
        """The engine of ``entry``'s thread: where it lives, or (never placed) the least loaded one."""
        engine = entry.engine
        if engine is None:
            engine = self._remembered.get(entry.thread_id)
            if engine is None:
                engine = self.reserve()
                self.unreserve(engine)
            self.settle(entry, engine)
        return engine

    def settle(self, entry: ThreadEntry, engine: int) -> None:
        """``entry``'s thread lives on ``engine`` from now on."""
        if len(self.generations) == 1:
            entry.engine = 0
            return
        with self._lock:
            if entry.engine is not None and entry.engine != engine:
                self._placed[entry.engine].discard(entry)
            entry.engine = engine
            self._placed[engine].add(entry)
            remembered = self._remembered
            remembered[entry.thread_id] = engine
            remembered.move_to_end(entry.thread_id)
            while len(remembered) > PLACEMENTS_KEPT:
                remembered.popitem(last=False)

    def engine_restarted(self, engine: int) -> None:
        """``engine`` died: its generation goes up (nothing is loaded there now), and what it had is forgotten.

        Threads in use stay placed there (their entries say so); others may be placed anywhere from now on.
        """
        with self._lock:
            self.generations[engine] += 1
            forgotten = [thread_id for thread_id, placed in self._remembered.items() if placed == engine]
            for thread_id in forgotten:
                del self._remembered[thread_id]

    def generation_of(self, entry: ThreadEntry) -> int:
        """The current generation of the engine ``entry``'s thread lives on."""
        return self.generations[entry.engine or 0]

    def __len__(self) -> int:
        """The threads something still refers to."""
        return len(self._entries)

    def counts(self) -> tuple[int, int]:
        """``(running, hibernated)``: the entries whose actor runs, and the others (for the thread gauges)."""
        with self._lock:
            entries = list(self._entries.values())
        running = sum(1 for entry in entries if entry.ref is not None and entry.ref.is_alive())
        return running, len(entries) - running

    def entry(self, thread_id: str) -> ThreadEntry:
        """The entry of ``thread_id`` (made if none exists)."""
        with self._lock:
            entry = self._entries.get(thread_id)
            if entry is None:
                entry = self._entries[thread_id] = ThreadEntry(thread_id)
            return entry

    def find(self, thread_id: str) -> ThreadEntry | None:
        """The entry of ``thread_id`` if something refers to it."""
        return self._entries.get(thread_id)

    def ref(self, thread_id: str) -> ThreadRef:
        """The address of ``thread_id``."""
        return ThreadRef(self, self.entry(thread_id))

    def live_ref(self, thread_id: str) -> pykka.ActorRef[Any] | None:
        """The running actor of ``thread_id``, if one runs (never starts one)."""
        entry = self._entries.get(thread_id)
        ref = None if entry is None else entry.ref
        return ref if ref is not None and ref.is_alive() else None

    def mark_loaded(self, thread_id: str, generation: int, engine: int = 0) -> ThreadRef:
        """``engine``, in ``generation``, answered a start, resume or fork of ``thread_id``: it has it loaded.

        It is known so while something refers to the entry: the address returned does. The thread lives on
        ``engine`` from now on.
        """
        address = self.ref(thread_id)
        entry = address._entry
        self.settle(entry, engine)
        entry.loaded = generation
        return address

    def mark_unloaded(self, thread_id: str) -> None:
        """The engine archived or closed ``thread_id``: its next use resumes it."""
        entry = self._entries.get(thread_id)
        if entry is not None:
            entry.loaded = None

    def check_open(self) -> None:
        """Raise what a sender gets from a runtime that no longer runs (``EngineCrashed`` once it gave up)."""
        crashed = None if self._escalation is None else self._escalation.error
        if crashed is not None and not self.closed:
            raise fresh(crashed)
        if self.closed or self.supervisor is None:
            raise not_running()

    def deliver(self, entry: ThreadEntry, message: Any, *, ask: bool = False) -> pykka.Future[Any] | None:
        """Put ``message`` in the inbox of the thread's running actor, starting one if none runs."""
        for _ in range(3):
            self.check_open()
            with entry.lock:
                ref = entry.ref
                if ref is not None and not ref.is_alive():  # stopped since (a crash not restarted yet)
                    ref = entry.ref = None
                if ref is not None:
                    try:
                        if ask:
                            future: pykka.Future[Any] = ref.ask(message, block=False)
                            return future
                        ref.tell(message)
                        return None
                    except pykka.ActorDeadError:
                        entry.ref = None
            self.revive(entry.thread_id)
        raise TransportClosedError(f"the actor of thread {entry.thread_id} could not be started")

    def revive(self, thread_id: str) -> pykka.ActorRef[Any]:
        """The running actor of ``thread_id``, which the root supervisor starts if none runs (blocks, briefly)."""
        supervisor = self.supervisor
        if supervisor is None:
            raise not_running()
        try:
            ref: pykka.ActorRef[Any] = supervisor.ask(
                StartThread(thread_id), block=True, timeout=SUPERVISOR_TIMEOUT
            )
            return ref
        except pykka.ActorDeadError:
            self.check_open()
            raise not_running() from None
        except pykka.Timeout:
            raise TransportClosedError(
                f"the supervisor did not start the actor of thread {thread_id} within {SUPERVISOR_TIMEOUT:g} s"
            ) from None


class ThreadRef:
    """The address of one Codex thread's actor: stable across hibernation, crashes and engine restarts.

    It keeps the part of ``pykka.ActorRef`` a service uses: :meth:`tell` and :meth:`ask`. Messages reach the
    thread's current actor, started (or revived) if none runs. Errors are the SDK's: a runtime that was closed
    raises :class:`~codex_actors.TransportClosedError`, one whose supervisor gave up
    :class:`~codex_actors.errors.EngineCrashed`. Tell it :class:`~codex_actors.actors.RunTurn` to run a turn;
    asked, a ``RunTurn`` is answered with its :class:`~codex_actors.actors.TurnFinished`. Two addresses of the
    same thread in the same runtime are equal.
    """

    __slots__ = ("_directory", "_entry")

    def __init__(self, directory: ThreadDirectory, entry: ThreadEntry) -> None:
        self._directory = directory
        self._entry = entry

    @property
    def thread_id(self) -> str:
        """The thread's id."""
        return self._entry.thread_id

    def is_alive(self) -> bool:
        """Whether messages can be delivered (the runtime runs); the actor itself may be hibernating."""
        try:
            self._directory.check_open()
        except TransportClosedError:
            return False
        return True

    def tell(self, message: Any) -> None:
        """Deliver ``message`` to the thread's actor without waiting."""
        self._directory.deliver(self._entry, message)

    def ask(self, message: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        """Deliver ``message`` and return the answer (``block=False``: a future of it).

        A :class:`~codex_actors.actors.RunTurn` is answered with its ``TurnFinished`` (its ``reply_to`` is
        ignored); other messages with what the actor answers. ``TimeoutError`` after ``timeout`` seconds.
        """
        future: pykka.Future[Any]
        if isinstance(message, RunTurn):
            future = _SdkFuture()
            self._directory.deliver(self._entry, msgspec.structs.replace(message, reply_to=_Settle(future)))
        else:
            inner = self._directory.deliver(self._entry, message, ask=True)
            assert inner is not None
            future = _SdkFuture()
            future.set_get_hook(functools.partial(_answer, inner))
        return future.get(timeout=timeout) if block else future

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ThreadRef)
            and other._directory is self._directory
            and other._entry.thread_id == self._entry.thread_id
        )

    def __hash__(self) -> int:
        return hash((id(self._directory), self._entry.thread_id))

    def __repr__(self) -> str:
        return f"<ThreadRef thread_id={self._entry.thread_id!r}>"


def _answer(inner: pykka.Future[Any], timeout: float | None) -> Any:
    """The actor's answer; one that refuses the message (:class:`UnknownMessageError`) is raised."""
    value = inner.get(timeout=timeout)
    if isinstance(value, UnknownMessageError):
        raise value
    return value
