"""An asyncio future that an actor (or the port's reader thread) can complete from its own thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .actors._reply import CallbackReply

__all__ = ["Waiter"]

T = TypeVar("T")


class Waiter(Generic[T]):
    """``reply`` completes ``future`` on the running loop; nothing blocks on either side.

    If the awaiting task was cancelled before the answer came, ``on_abandoned(value)`` is called with the late
    value (on the loop), so whatever it holds (a turn subscription, say) can be released.
    """

    __slots__ = ("future", "on_abandoned", "reply")

    def __init__(self, on_abandoned: Callable[[Any], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.future: asyncio.Future[T] = loop.create_future()
        self.on_abandoned = on_abandoned

        def deliver(value: Any, error: BaseException | None) -> None:
            loop.call_soon_threadsafe(self._settle, value, error)

        self.reply = CallbackReply(deliver)

    def _settle(self, value: Any, error: BaseException | None) -> None:
        if self.future.done():
            if error is None and self.on_abandoned is not None:
                self.on_abandoned(value)
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(value)
