"""The attached telemetry handlers of the process, and the call of each one for an event.

One table for the whole process, as ``:telemetry`` in the BEAM: a handler attached once sees the events of every
client. Attaching and detaching swap in a new lookup table (``event name -> handlers``) under a lock; an event
reads it without one, so the telemetry actors never wait for each other or for an attach.

:func:`dispatch` runs on a client's telemetry actor. A handler that raises is detached (under its id, so a
handler attached again under the same id is not touched) and logged once, with its traceback, on
``codex_actors.telemetry``; the event goes on to the other handlers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._telemetry_events import EVENTS

__all__ = ["Handler", "HandlerFn", "attach", "detach", "dispatch", "handlers"]

logger = logging.getLogger("codex_actors.telemetry")

#: ``fn(event_name, measurements, metadata)``.
HandlerFn = Callable[[str, dict[str, float], dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Handler:
    """One attached handler: its id, the events it gets (``None``: all) and its function."""

    handler_id: str
    event_names: tuple[str, ...] | None
    fn: HandlerFn


_lock = threading.Lock()
_attached: dict[str, Handler] = {}
#: Handlers by event name (every name of the catalogue is a key), swapped whole on attach and detach.
_table: Mapping[str, tuple[Handler, ...]] = {name: () for name in EVENTS}


def _rebuild() -> None:
    global _table
    table: dict[str, list[Handler]] = {name: [] for name in EVENTS}
    for handler in _attached.values():
        for name in handler.event_names if handler.event_names is not None else EVENTS:
            table[name].append(handler)
    _table = {name: tuple(found) for name, found in table.items()}


def attach(handler_id: str, event_names: Sequence[str] | None, fn: HandlerFn) -> None:
    """Call ``fn(event_name, measurements, metadata)`` for each of ``event_names`` (``None``: every event).

    Raises ``ValueError`` for an id attached already or a name not in the catalogue, ``TypeError`` for a
    ``fn`` that is not callable or names that are not a list of strings.
    """
    if not isinstance(handler_id, str) or not handler_id:
        raise TypeError(f"handler_id must be a non-empty string, got {handler_id!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    names: tuple[str, ...] | None = None
    if event_names is not None:
        if isinstance(event_names, str) or not all(isinstance(name, str) for name in event_names):
            raise TypeError(f"event_names must be a list of event names or None, got {event_names!r}")
        unknown = [name for name in event_names if name not in EVENTS]
        if unknown:
            raise ValueError(f"unknown telemetry events {unknown}; the events are: {', '.join(EVENTS)}")
        names = tuple(dict.fromkeys(event_names))
    with _lock:
        if handler_id in _attached:
            raise ValueError(f"a telemetry handler {handler_id!r} is attached already; detach it first")
        _attached[handler_id] = Handler(handler_id, names, fn)
        _rebuild()


def detach(handler_id: str) -> bool:
    """Detach the handler ``handler_id``; False if none is attached under that id."""
    with _lock:
        if _attached.pop(handler_id, None) is None:
            return False
        _rebuild()
        return True


def handlers() -> list[Handler]:
    """The handlers attached now."""
    with _lock:
        return list(_attached.values())


def has_handlers(event_name: str) -> bool:
    """Whether any handler gets ``event_name`` (so that a caller can skip building an event nobody reads)."""
    return bool(_table.get(event_name))


def dispatch(event_name: str, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
    """Call every handler of ``event_name``; detach (and log once) each one that raises."""
    for handler in _table.get(event_name, ()):
        try:
            handler.fn(event_name, measurements, metadata)
        except Exception:
            with _lock:
                current = _attached.get(handler.handler_id)
                if current is not handler:
                    continue  # detached already (by another client's actor, or by its owner)
                del _attached[handler.handler_id]
                _rebuild()
            logger.exception(
                "telemetry handler %r raised on %s and was detached",
                handler.handler_id,
                event_name,
                extra={"handler_id": handler.handler_id, "event": event_name},
            )
