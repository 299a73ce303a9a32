"""A client dropped without ``close()``: its engine and actor tree are stopped, with a ``ResourceWarning``.

Like an unclosed file, a ``Codex`` or ``AsyncCodex`` that is garbage-collected, or still open when the
interpreter exits, is closed by a :class:`weakref.finalize` and warns ``ResourceWarning("unclosed Codex <...>")``
(shown with ``-W always`` or ``-X dev``, hidden by default). The finalizer holds the client's runtime (through
``open_runtime``), never the client: nothing in the runtime or its actor tree refers back to the client, so
dropping the last reference collects it at once. What is in use keeps its client alive instead: a ``Thread``, a
``TurnHandle`` and a login handle refer to it (``SyncRuntime.owner``; the async ones hold their ``AsyncCodex``).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable

from ._runtime import Runtime

__all__ = ["close_when_dropped"]


def _close_dropped(name: str, open_runtime: Callable[[], Runtime | None]) -> None:
    runtime = open_runtime()
    if runtime is None or runtime.closed:
        return  # closed by its owner (or never started): nothing to say
    # 3: past this function and weakref.finalize.__call__, to the code that dropped the client (or atexit)
    warnings.warn(f"unclosed {name}", ResourceWarning, stacklevel=3)
    runtime.close()


def close_when_dropped(client: object, open_runtime: Callable[[], Runtime | None]) -> None:
    """Close ``open_runtime()`` (the runtime, if one runs) when ``client`` is collected or at exit, with a warning.

    ``open_runtime`` must not refer to ``client``. Explicitly closing the runtime first makes this do nothing.
    """
    name = f"{type(client).__name__} {object.__repr__(client)}"
    weakref.finalize(client, _close_dropped, name, open_runtime)
