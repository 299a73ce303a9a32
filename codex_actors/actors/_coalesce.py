"""Coalescing a lagging reader's backlog of text deltas: what keeps a turn's log bounded for a slow subscriber.

A turn streams its text as many small delta notifications (``item/agentMessage/delta``, the reasoning text and
summary deltas, ``item/commandExecution/outputDelta``, ``item/fileChange/outputDelta``, ``item/plan/delta``).
When a subscriber lags far behind, its :class:`~codex_actors.actors._turnlog.TurnLog` replaces each run of
consecutive deltas of one item (and, for reasoning, one summary or content index) with a single
:class:`CoalescedNotification`: the same method, a payload of the same generated Struct whose ``delta`` is the
run's text concatenated, and :attr:`CoalescedNotification.deltas` saying how many deltas it stands for. Every
other event (items started and completed, the turn's end) is kept as it is, in order.

:data:`DELTAS` is the :class:`Coalescer` the thread actor gives its logs; the log decides *when* and *what*
(see its module), this module only *how*. :class:`CoalescedNotification` is public, in :mod:`codex_actors.models`.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from typing import Any, Protocol, TypeVar

import msgspec

from ..models import CoalescedNotification, Notification, UnknownNotification

__all__ = ["DELTAS", "DELTA_METHODS", "Coalescer", "DeltaCoalescer", "coalesce"]

E = TypeVar("E")

#: The delta notifications of a turn's items that may be coalesced, and the payload field (if any) that also
#: tells runs apart (a reasoning item streams several summaries and contents, each with its own index).
_INDEX_FIELDS: dict[str, str | None] = {
    "item/agentMessage/delta": None,
    "item/plan/delta": None,
    "item/commandExecution/outputDelta": None,
    "item/fileChange/outputDelta": None,
    "item/reasoning/summaryTextDelta": "summary_index",
    "item/reasoning/textDelta": "content_index",
}
#: The methods whose consecutive notifications of one item may become one :class:`CoalescedNotification`.
DELTA_METHODS = frozenset(_INDEX_FIELDS)


class Coalescer(Protocol[E]):
    """How a log merges events: which may merge (:meth:`key`), how (:meth:`merge`), their weight (:meth:`size`)."""

    def key(self, event: E) -> Hashable | None:
        """What consecutive events must share to be merged; ``None``: this one is never merged."""

    def merge(self, events: Sequence[E]) -> E:
        """One event standing for ``events`` (two or more, all with the same key), in order."""

    def size(self, event: E) -> int:
        """How many original events ``event`` stands for (1 unless it was merged)."""


class DeltaCoalescer:
    """The :class:`Coalescer` of notifications: runs of deltas become one :class:`CoalescedNotification`."""

    __slots__ = ()

    def key(self, event: Notification) -> Hashable | None:
        """``(method, item id, index)`` for a coalescible delta, else ``None``."""
        method = event.method
        if method not in _INDEX_FIELDS:
            return None
        payload: Any = event.payload
        if isinstance(payload, UnknownNotification):
            return None
        index = _INDEX_FIELDS[method]
        return method, payload.item_id, None if index is None else getattr(payload, index)

    def merge(self, events: Sequence[Notification]) -> Notification:
        """The deltas as one: the first's method, payload (with the joined text) and timestamp."""
        first = events[0]
        text = "".join([event.payload.delta for event in events])
        payload = msgspec.structs.replace(first.payload, delta=text)
        return CoalescedNotification(
            first.method, payload, first.emitted_at_ms, deltas=sum(map(self.size, events))
        )

    def size(self, event: Notification) -> int:
        """How many deltas ``event`` stands for."""
        return event.deltas if isinstance(event, CoalescedNotification) else 1


#: The coalescer of every turn's log.
DELTAS = DeltaCoalescer()


def coalesce(
    events: Sequence[E], breaks: Collection[int], coalescer: Coalescer[E]
) -> tuple[list[E], dict[int, int]]:
    """``events`` with each run of mergeable events (one key, no break inside) merged; and where breaks went.

    ``breaks`` are indices into ``events`` that no merged event may straddle (a reader's cursor sits there); the
    dict maps each of them, and ``len(events)``, to its index in the result. A run is merged into a chain of
    events whose sizes more than halve from one to the next, so a run of ``n`` originals is held as at most
    ``log2(n) + 1`` events and each original's text is copied ``O(log n)`` times over all passes.
    """
    out: list[E] = []
    where: dict[int, int] = {}
    key_of = coalescer.key
    run: list[E] = []
    run_key: Hashable | None = None
    for index, event in enumerate(events):
        if index in breaks:
            if run:
                _flush(run, out, coalescer)
                run = []
            where[index] = len(out)
        key = key_of(event)
        if key is None:
            if run:
                _flush(run, out, coalescer)
                run = []
            out.append(event)
        elif run and key == run_key:
            run.append(event)
        else:
            if run:
                _flush(run, out, coalescer)
            run, run_key = [event], key
    if run:
        _flush(run, out, coalescer)
    where[len(events)] = len(out)
    return out, where


def _flush(run: list[E], out: list[E], coalescer: Coalescer[E]) -> None:
    """Append ``run`` (events of one key) to ``out`` as a chain of merged events (see :func:`coalesce`)."""
    if len(run) == 1:
        out.append(run[0])
        return
    chain: list[tuple[list[E], int]] = []

    def push(group: list[E], size: int) -> None:
        while chain and chain[-1][1] <= 2 * size:
            previous, previous_size = chain.pop()
            group, size = previous + group, previous_size + size
        chain.append((group, size))

    size_of = coalescer.size
    originals: list[E] = []  # consecutive events that stand for themselves alone
    for event in run:
        size = size_of(event)
        if size == 1:
            originals.append(event)
            continue
        if originals:
            push(originals, len(originals))
            originals = []
        push([event], size)
    if originals:
        push(originals, len(originals))
    out.extend(group[0] if len(group) == 1 else coalescer.merge(group) for group, _ in chain)
