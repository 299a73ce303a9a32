"""What crosses the wire between a Ray-hosted thread and its callers: errors, as their own types.

Ray pickles an exception raised in an actor and rebuilds it in the caller, but pickle rebuilds an exception as
``cls(*exc.args)``, and many of the SDK's errors take more than their message (``JsonRpcError(code, message,
data)``, ``RequestTimeoutError(method, timeout)``...): those cannot be rebuilt, and the caller would get Ray's
``UnserializableException``. So the host never raises across the wire: it returns a :class:`WireError`, which
holds the exception's class (pickled by reference), ``args`` and attributes, and the caller raises
:meth:`WireError.rebuild` (the same class, built without calling its ``__init__``, with the same attributes).
"""

from __future__ import annotations

import pickle
import traceback
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_CAUSES", "WireError", "wire_error"]

#: How many ``__cause__`` links of an error are carried along.
MAX_CAUSES = 3


@dataclass(frozen=True, slots=True)
class WireError:
    """An exception raised in a Ray host, in a form that pickles: rebuilt by the caller as the same type."""

    kind: type[BaseException]
    args: tuple[Any, ...]
    state: dict[str, Any]
    #: The host's traceback of it, as text.
    remote_traceback: str
    cause: WireError | None = None

    def rebuild(self, where: str = "") -> BaseException:
        """The exception again: its class, ``args`` and attributes; ``where`` says where it was raised (a note).

        A class that cannot be built that way (an unusual ``__new__``) comes back as a ``RuntimeError`` naming it.
        """
        try:
            exc = self.kind.__new__(self.kind, *self.args)
            exc.args = self.args
            for name, value in self.state.items():
                setattr(exc, name, value)
        except Exception:
            exc = RuntimeError(f"{self.kind.__module__}.{self.kind.__qualname__}: {self.args!r}")
        if where:
            exc.add_note(f"raised {where}:\n{self.remote_traceback.rstrip()}")
        if self.cause is not None:
            exc.__cause__ = self.cause.rebuild()
        return exc


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def wire_error(exc: BaseException, *, depth: int = 0) -> WireError:
    """``exc`` as a :class:`WireError` (its ``__cause__`` too, up to :data:`MAX_CAUSES` links).

    Arguments and attributes that do not pickle travel as their ``repr``; notes already on it are kept.
    """
    args = exc.args if _picklable(exc.args) else tuple(repr(arg) for arg in exc.args)
    state = dict(getattr(exc, "__dict__", {}))
    for name, value in list(state.items()):
        if not _picklable(value):
            state[name] = repr(value)
    kind = type(exc) if _picklable(type(exc)) else RuntimeError
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False))
    cause = exc.__cause__
    wired = None if cause is None or depth >= MAX_CAUSES else wire_error(cause, depth=depth + 1)
    return WireError(kind, args, state, text, wired)
