"""The heartbeat: how the port's reader thread tells a hung engine from a quiet one. Nothing here is an actor.

The reader already waits for the engine's stdout in ``poll()``; a :class:`Watchdog` gives that wait a timeout.
After ``interval`` seconds without a byte on stdout the reader asks for a heartbeat (the port writes
:data:`HEARTBEAT_METHOD`, which the engine refuses at once); then, if not one byte comes within ``timeout``
seconds, the engine is hung. Any output counts as an answer (a turn's events, a reply, the heartbeat's own
error), so a busy engine is never asked, and a quiet but healthy one costs one tiny request per ``interval``.

Idle engines are asked too: a hung idle engine is found out before the next request waits its whole timeout
for it. No timer, no thread: the reader's own wait is the clock, and nothing here blocks.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["HEARTBEAT_METHOD", "Watchdog"]

#: The heartbeat request, sent without params. The 0.163.0 engine answers it at once, even mid-turn, with a
#: 90-byte -32600 error ("missing field `params`") and does nothing else: it never gets past decoding. (An
#: unknown method is refused as fast, but the answer lists every method: over 4 KB.)
HEARTBEAT_METHOD = "config/read"


class Watchdog:
    """The heartbeat's state, on the reader thread: how long to wait for output, and what silence means.

    ``ready()`` says whether a heartbeat may be sent now (not before the handshake is answered, not while the
    port closes); ``ping()`` has one sent (it must not block: a tell); ``hung(waited)`` is called once, when the
    engine said nothing for ``timeout`` seconds after a heartbeat (``waited`` is that timeout).
    """

    __slots__ = ("_asked", "_hung", "_ping", "_ready", "_stopped", "interval", "timeout")

    def __init__(
        self,
        interval: float,
        timeout: float,
        *,
        ready: Callable[[], bool],
        ping: Callable[[], None],
        hung: Callable[[float], None],
    ) -> None:
        self.interval = interval
        self.timeout = timeout
        self._ready = ready
        self._ping = ping
        self._hung = hung
        self._asked = False
        self._stopped = False

    def wait_s(self) -> float | None:
        """Seconds the reader may wait for output before calling :meth:`silence` (``None``: forever)."""
        if self._stopped:
            return None
        return self.timeout if self._asked else self.interval

    def heard(self) -> None:
        """The engine wrote something: it is alive."""
        self._asked = False

    def silence(self) -> None:
        """The wait of :meth:`wait_s` passed with nothing read: ask the engine, or give it up for hung."""
        if self._stopped:
            return
        if self._asked:
            self._stopped = True
            self._hung(self.timeout)
        elif self._ready():
            self._asked = True
            self._ping()
