"""The host of one Codex thread inside a Ray actor, as a plain class (``codex_actors.ray`` makes it the actor).

A :class:`ThreadHost` owns one :class:`~codex_actors.Codex` (its own engine, supervised as in any process) and
one thread on it: a new one, or one resumed by id. It knows nothing of Ray, so it is tested in-process; Ray
calls it through :meth:`ThreadHost.call`, which never raises across the wire (an error comes back as a
:class:`~codex_actors._ray_wire.WireError`, rebuilt by the caller as the same type).

What survives the actor's restart (Ray re-runs ``__init__`` with the creation arguments):

* the thread's id, recorded in the node's ``CODEX_HOME`` (``codex-actors-ray/<namespace>/<name>.json``) and read
  back in ``__init__``; every call also names the thread it is for, and a host with none loaded resumes it;
* the thread itself: the engine keeps it in that ``CODEX_HOME``. The old engine (a child of the killed worker)
  may hold the thread's writer lock a moment longer, so a resume refused for that is retried with backoff,
  within :data:`RESUME_WITHIN_S`.

Engines started at once on a ``CODEX_HOME`` that none has used yet race to create its state database, and most
of them exit ("failed to initialize sqlite state runtime"): a host whose engine exited so retries its start, a
few times with jittered backoff (:data:`START_ATTEMPTS`).

Turns started through :meth:`ThreadHost.start_turn` are held (their cursor in the turn's log, the unread rest
of the last batch) until their result is fetched; at most :data:`MAX_TURNS_KEPT` per host, the oldest ended
ones dropped first, so a handle that is dropped and never read costs a bounded amount.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ._config import CodexConfig
from ._inputs import Input, RunInput
from ._protocol.generated import (
    ThreadCompactStartResponse,
    ThreadReadResponse,
    ThreadSetNameResponse,
    TurnInterruptResponse,
    TurnSteerResponse,
)
from ._ray_wire import wire_error
from ._results import TurnResult
from ._subscription import Subscription
from ._sync_api import Codex, Thread, TurnHandle
from .errors import CodexError, InvalidRequestError, TransportClosedError, UnknownThreadError, is_retryable_error
from .models import Notification

__all__ = [
    "CALLS",
    "MAX_BATCH",
    "MAX_TURNS_KEPT",
    "RECORD_DIR",
    "RESUME_WITHIN_S",
    "START_ATTEMPTS",
    "STATE_RACE",
    "HostInfo",
    "ThreadHost",
    "codex_home",
    "record_path",
]

#: The folder of a ``CODEX_HOME`` holding each hosted thread's record (``<namespace>/<name>.json``).
RECORD_DIR = "codex-actors-ray"
#: Turns a host holds for their handles at most; past it, the oldest ended ones are dropped.
MAX_TURNS_KEPT = 16
#: The most notifications one pull of a turn's events returns.
MAX_BATCH = 1024
#: Seconds a resume refused because the old engine still holds the thread ("active writer") is retried for.
RESUME_WITHIN_S = 30.0
#: Starts of the client a host tries when its engine exits racing others to create a new home's state database.
START_ATTEMPTS = 6
#: What the engine says on stderr when it lost that race.
STATE_RACE = "state runtime"
#: The methods :meth:`ThreadHost.call` runs.
CALLS = frozenset(
    {
        "info",
        "run",
        "start_turn",
        "events",
        "turn_result",
        "interrupt",
        "steer",
        "read",
        "set_name",
        "compact",
        "shutdown",
    }
)

_COMPLETED = "turn/completed"
_FIRST_RETRY_S = 0.05
_LAST_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class HostInfo:
    """Where a hosted thread lives: its host's name and namespace, the thread's id, the worker's pid and node."""

    name: str
    namespace: str
    thread_id: str | None
    pid: int
    node_id: str | None
    #: Whether this incarnation of the host is a restart (Ray re-ran its ``__init__``).
    reconstructed: bool


def codex_home(config: CodexConfig | None, environ: Mapping[str, str] = os.environ) -> Path:
    """The ``CODEX_HOME`` of ``config``'s engine here: its ``env``'s, else the process's, else ``~/.codex``."""
    home = ((config.env if config is not None else None) or {}).get("CODEX_HOME") or environ.get("CODEX_HOME")
    return Path(home) if home else Path.home() / ".codex"


def _safe(part: str) -> str:
    quoted = quote(part, safe="")
    return quoted.replace(".", "%2E") if quoted in {".", ".."} else quoted


def record_path(home: Path, namespace: str, name: str) -> Path:
    """Where the host ``name`` of ``namespace`` records its thread's id, under ``home`` (a ``CODEX_HOME``)."""
    return home / RECORD_DIR / _safe(namespace) / f"{_safe(name)}.json"


def read_record(path: Path) -> str | None:
    """The thread id recorded at ``path``, or ``None`` (no record, or one that does not read as one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    thread_id = data.get("thread_id") if isinstance(data, dict) else None
    return thread_id if isinstance(thread_id, str) and thread_id else None


def write_record(path: Path, thread_id: str) -> None:
    """Record ``thread_id`` at ``path``, atomically (a reader sees the old record or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.write_text(json.dumps({"thread_id": thread_id}), encoding="utf-8")
    os.replace(temporary, path)


def _is_held_elsewhere(exc: BaseException) -> bool:
    """The engine refused a resume because another engine still writes the thread, or it is overloaded."""
    if isinstance(exc, InvalidRequestError) and "active writer" in exc.message:
        return True
    return is_retryable_error(exc)


def _no_rollout(thread_id: str, exc: BaseException) -> BaseException:
    """``exc``, as :class:`UnknownThreadError` when it is the engine saying it has no such thread."""
    if isinstance(exc, UnknownThreadError) or not isinstance(exc, InvalidRequestError):
        return exc
    if "no rollout found" not in exc.message and "thread not found" not in exc.message:
        return exc
    return UnknownThreadError(exc.code, exc.message, exc.data, thread_id=thread_id)


def _start_client(config: CodexConfig | None) -> Codex:
    """``Codex(config)``, started again (jittered backoff) while its engine loses the state-database race."""
    attempt = 0
    while True:
        try:
            return Codex(config)
        except TransportClosedError as exc:
            attempt += 1
            if STATE_RACE not in f"{exc} {exc.stderr_tail or ''}" or attempt >= START_ATTEMPTS:
                raise
        time.sleep(random.uniform(0.05, 0.2) * 2**attempt)


_RESUMABLE = frozenset(inspect.signature(Codex.thread_resume).parameters) - {"self", "thread_id"}


@dataclass(eq=False)
class _HeldTurn:
    """A turn started through the host, held for its (remote) handle."""

    handle: TurnHandle
    subscription: Subscription
    #: Read from the log and not handed out yet.
    pending: list[Notification] = field(default_factory=list)
    #: The events handed out so far, and the last batch of them (sent again if asked for again).
    delivered: int = 0
    last: list[Notification] = field(default_factory=list)
    ended: bool = False
    #: Once taken: the turn's result, or what taking it raised (kept, so asking again answers the same).
    outcome: TurnResult | BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self) -> bool:
        return self.ended or self.subscription.log.done


class ThreadHost:
    """One Codex client and one thread of it, for a Ray actor (see the module docstring).

    ``__init__`` never raises: a client that cannot start, or a thread that cannot be started or resumed, is
    kept as the host's error, raised by every call (``codex_actors.ray.host_thread`` then stops the actor).
    """

    def __init__(
        self,
        name: str,
        namespace: str,
        config: CodexConfig | None,
        thread_id: str | None,
        start_kwargs: Mapping[str, Any],
        *,
        reconstructed: bool = False,
        node_id: str | None = None,
        resume_within_s: float = RESUME_WITHIN_S,
        max_turns: int = MAX_TURNS_KEPT,
    ) -> None:
        self._name, self._namespace, self._node_id = name, namespace, node_id
        self._reconstructed = reconstructed
        self._start_kwargs = dict(start_kwargs)
        self._resume_within_s = resume_within_s
        self._max_turns = max_turns
        self._record = record_path(codex_home(config), namespace, name)
        self._lock = threading.RLock()
        self._turns: OrderedDict[str, _HeldTurn] = OrderedDict()
        self._thread: Thread | None = None
        #: Ids this host answers for besides its thread's: a recorded thread with no history, replaced.
        self._aliases: set[str] = set()
        self._error: BaseException | None = None
        self._closed = False
        self._codex: Codex | None = None
        try:
            self._codex = _start_client(config)
            self._open(thread_id)
        except Exception as exc:
            self._error = exc

    def __repr__(self) -> str:
        thread_id = None if self._thread is None else self._thread.id
        return f"ThreadHost(name={self._name!r}, namespace={self._namespace!r}, thread_id={thread_id!r})"

    # -- the thread ---------------------------------------------------------------------------------------------

    def _open(self, thread_id: str | None) -> None:
        """Start the thread, or resume the given or recorded one; record its id."""
        recorded = read_record(self._record)
        target = thread_id or recorded
        if target is None:
            if self._reconstructed:
                return  # restarted before its thread was recorded: the first call names it
            self._adopt(self._client().thread_start(**self._start_kwargs))
            return
        try:
            self._adopt(self._resume(target))
        except UnknownThreadError:
            if thread_id is not None and not self._reconstructed:
                raise  # asked for by id: it must exist
            # The recorded thread has no history to resume (it never ran a turn): nothing is lost by a new one,
            # which answers for the old id too.
            self._adopt(self._client().thread_start(**self._start_kwargs))
            self._aliases.add(target)

    def _resume(self, thread_id: str) -> Thread:
        """Resume ``thread_id``: retried with backoff while another engine still holds it."""
        kwargs = {key: value for key, value in self._start_kwargs.items() if key in _RESUMABLE}
        deadline = time.monotonic() + self._resume_within_s
        delay = _FIRST_RETRY_S
        while True:
            try:
                return self._client().thread_resume(thread_id, **kwargs)
            except Exception as exc:
                if not _is_held_elsewhere(exc) or time.monotonic() + delay > deadline:
                    unknown = _no_rollout(thread_id, exc)
                    if unknown is exc:
                        raise
                    raise unknown from exc
            time.sleep(delay)
            delay = min(delay * 2, _LAST_RETRY_S)

    def _adopt(self, thread: Thread) -> None:
        self._thread = thread
        self._error = None
        write_record(self._record, thread.id)

    def _client(self) -> Codex:
        if self._codex is None:
            raise TransportClosedError(f"the Ray host {self._name!r} has no Codex client")
        return self._codex

    def _thread_for(self, thread_id: str | None) -> Thread:
        """The host's thread, which must be ``thread_id`` (or answer for it); resumed first if none is loaded."""
        with self._lock:
            if self._closed:
                raise TransportClosedError(f"the Ray host {self._name!r} is closed")
            thread = self._thread
            if thread is None:
                if self._codex is None and self._error is not None:
                    raise self._error
                target = thread_id or read_record(self._record)
                if target is None:
                    if self._error is not None:
                        raise self._error
                    raise TransportClosedError(f"the Ray host {self._name!r} does not know its thread's id")
                self._adopt(self._resume(target))
                thread = self._thread
                assert thread is not None
            if thread_id is not None and thread_id != thread.id and thread_id not in self._aliases:
                raise UnknownThreadError(
                    -32600,
                    f"the Ray host {self._name!r} hosts thread {thread.id}, not {thread_id}",
                    thread_id=thread_id,
                )
            return thread

    # -- the calls ----------------------------------------------------------------------------------------------

    def call(self, method: str, *args: Any) -> Any:
        """Run one of :data:`CALLS` with ``args``; what it raises is returned, as a :class:`WireError`."""
        try:
            if method not in CALLS:
                raise AttributeError(f"a Ray thread host has no call {method!r}")
            function: Callable[..., Any] = getattr(self, method)
            return function(*args)
        except BaseException as exc:
            return wire_error(exc)

    def info(self, thread_id: str | None = None) -> HostInfo:
        """Where the thread lives; raises the host's error if it has no thread."""
        thread = self._thread_for(thread_id)
        return HostInfo(self._name, self._namespace, thread.id, os.getpid(), self._node_id, self._reconstructed)

    def run(self, thread_id: str, input: RunInput, turn_kwargs: Mapping[str, Any]) -> TurnResult:
        """``Thread.run``: the whole turn runs here; its result comes back."""
        return self._thread_for(thread_id).run(input, **turn_kwargs)

    def start_turn(self, thread_id: str, input: RunInput, turn_kwargs: Mapping[str, Any]) -> str:
        """``Thread.turn``: start a turn (or join the active one) and hold it for its handle; its id."""
        handle = self._thread_for(thread_id).turn(input, **turn_kwargs)
        with self._lock:
            if handle.id not in self._turns:  # a join of a turn already held keeps its first reader
                self._turns[handle.id] = _HeldTurn(handle, handle._subscription)
            self._evict()
        return handle.id

    def events(
        self,
        thread_id: str,
        turn_id: str,
        offset: int = 0,
        max_events: int = MAX_BATCH,
        wait_s: float | None = None,
    ) -> tuple[list[Notification], bool]:
        """The turn's events from ``offset`` (how many its reader has had) and whether they end it.

        At most ``max_events``; ``[]`` if none came within ``wait_s``. Asked again from the same offset (an answer
        lost on the way), the same batch is sent again; an offset neither that nor the next is a
        ``TransportClosedError`` (a second reader of the turn).
        """
        self._thread_for(thread_id)
        held = self._held(turn_id)
        with held.lock:
            if held.last and offset == held.delivered - len(held.last):
                return list(held.last), held.ended and not held.pending
            if offset != held.delivered:
                raise TransportClosedError(
                    f"turn {turn_id}: events asked from {offset} but {held.delivered} were handed out (a turn has "
                    "one reader)"
                )
            if not held.pending and not held.ended:
                try:
                    events = held.subscription.take(wait_s)
                except TimeoutError as exc:
                    if isinstance(exc, CodexError):  # the turn's own error (TurnTimeoutError), not the wait's
                        raise
                    return [], False
                held.pending = events
                held.ended = not events or events[-1].method == _COMPLETED
            batch, held.pending = held.pending[:max_events], held.pending[max_events:]
            held.delivered += len(batch)
            held.last = batch
            return list(batch), held.ended and not held.pending

    def turn_result(self, thread_id: str, turn_id: str) -> TurnResult:
        """The turn's result, as ``TurnHandle.run`` returns it, once it ended (the same again if asked again)."""
        self._thread_for(thread_id)
        held = self._held(turn_id)
        with held.lock:
            if held.outcome is None:
                try:
                    while not held.ended:
                        events = held.subscription.take()
                        held.ended = not events or events[-1].method == _COMPLETED
                    held.outcome = held.handle.run()
                except Exception as exc:
                    held.outcome = exc
                finally:
                    held.pending, held.last = [], []
                    held.subscription.close()
            if isinstance(held.outcome, BaseException):
                raise held.outcome
            return held.outcome

    def interrupt(self, thread_id: str, turn_id: str) -> TurnInterruptResponse:
        """``TurnHandle.interrupt`` of a held turn."""
        self._thread_for(thread_id)
        return self._held(turn_id).handle.interrupt()

    def steer(self, thread_id: str, turn_id: str, input: Input | str) -> TurnSteerResponse:
        """``TurnHandle.steer`` of a held turn."""
        self._thread_for(thread_id)
        return self._held(turn_id).handle.steer(input)

    def read(self, thread_id: str, include_turns: bool = False) -> ThreadReadResponse:
        """``Thread.read``."""
        return self._thread_for(thread_id).read(include_turns=include_turns)

    def set_name(self, thread_id: str, name: str) -> ThreadSetNameResponse:
        """``Thread.set_name``."""
        return self._thread_for(thread_id).set_name(name)

    def compact(self, thread_id: str) -> ThreadCompactStartResponse:
        """``Thread.compact``."""
        return self._thread_for(thread_id).compact()

    def shutdown(self, thread_id: str | None = None) -> None:
        """Close the client (its engine stops) and remove the thread's record: the name is free again.

        ``thread_id`` is ignored (every call names one).
        The thread itself stays in the engine's ``CODEX_HOME``: it can be hosted again by id. Idempotent.
        """
        with self._lock:
            self._closed = True
            for turn_id in list(self._turns):
                self._drop(turn_id)
            if self._thread is not None and read_record(self._record) == self._thread.id:
                with contextlib.suppress(OSError):
                    self._record.unlink()
            if self._codex is not None:
                self._codex.close()

    # -- held turns ---------------------------------------------------------------------------------------------

    def _held(self, turn_id: str) -> _HeldTurn:
        with self._lock:
            held = self._turns.get(turn_id)
        if held is None:
            why = (
                "it was restarted (it had died): a turn in flight then failed and is not re-run"
                if self._reconstructed
                else f"it let it go (the oldest ended turns past {self._max_turns} are dropped)"
            )
            raise TransportClosedError(f"the Ray host {self._name!r} holds no turn {turn_id}: {why}")
        return held

    def _evict(self) -> None:
        """Drop held turns past the bound: the oldest ended first, then (only if none ended) the oldest."""
        while len(self._turns) > self._max_turns:
            ended = next((turn_id for turn_id, held in self._turns.items() if held.done()), None)
            self._drop(ended if ended is not None else next(iter(self._turns)))

    def _drop(self, turn_id: str) -> None:
        with self._lock:
            held = self._turns.pop(turn_id, None)
        if held is not None:
            held.subscription.close()

    @property
    def held_turns(self) -> list[str]:
        """The ids of the turns held now, oldest first."""
        with self._lock:
            return list(self._turns)
