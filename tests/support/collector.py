"""A notification sink for tests: keeps everything it gets, decoded, and lets a test wait for a method."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import msgspec

from codex_actors._protocol.jsonrpc import ServerNotification


class Collector:
    """A notification sink that keeps everything it gets, decoded, and lets a test wait for a method."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, object]]] = []
        self._cond = threading.Condition()

    def __call__(self, batch: Sequence[ServerNotification]) -> None:
        decoded = [(n.method, msgspec.json.decode(n.params)) for n in batch]
        with self._cond:
            self.items.extend(decoded)
            self._cond.notify_all()

    def methods(self) -> list[str]:
        with self._cond:
            return [method for method, _ in self.items]

    def wait_for(self, method: str, timeout: float = 20.0) -> dict[str, object]:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(m == method for m, _ in self.items), timeout)
            assert ok, f"no {method!r} within {timeout} s; got {[m for m, _ in self.items]}"
            return next(params for m, params in self.items if m == method)
