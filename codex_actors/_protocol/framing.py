"""Splitting the engine's stdout byte stream into lines, with a cap on line length.

Pure and synchronous: :class:`LineSplitter` is fed the chunks one read brought and returns the complete lines in
them (as one block of bytes), plus the over-long lines it dropped (:class:`DroppedLine`: size, position, and a
small head and tail, enough to tell what the line was). A line longer than ``max_line_bytes`` is discarded as it
streams (never buffered whole) and reading resynchronizes at the next newline.

A long line under the cap costs one copy: the chunks of an unfinished line are kept as they came (no bytes are
copied while it streams) and joined once when its newline arrives, so a 17.8 MB line read 1 MiB at a time costs
the line itself and one chunk list, never O(n^2) nor a growing buffer's reallocations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .._config import DEFAULT_MAX_LINE_BYTES

__all__ = ["KEPT_HEAD", "KEPT_TAIL", "DroppedLine", "LineSplitter", "SplitResult", "split_lines"]

#: Bytes kept of a dropped line's start and of its end (where its JSON-RPC id, method and thread are).
KEPT_HEAD = 4096
KEPT_TAIL = 4096


@dataclass(frozen=True, slots=True)
class DroppedLine:
    """A line over the limit, dropped: its ``size`` in bytes, its first and last bytes (``head``, ``tail``).

    ``offset`` places it among the lines kept from the same chunk: the block's lines before it are
    ``block[:offset]``, the ones after it ``block[offset:]``.
    """

    size: int
    head: bytes
    tail: bytes
    offset: int = 0


@dataclass(slots=True)
class SplitResult:
    """What one chunk completed: ``block``, its complete lines joined by newlines, and the dropped lines.

    The block is what the decoder wants (a whole read is decoded in one call); :attr:`lines` splits it.
    """

    block: bytes = b""
    dropped: list[DroppedLine] = field(default_factory=list)

    @property
    def lines(self) -> list[bytes]:
        """The complete lines, in order, without their newlines; empty lines are skipped."""
        return split_lines(self.block)


def split_lines(block: bytes) -> list[bytes]:
    """The lines of a block, without their newlines; empty lines are skipped."""
    return [line for line in block.split(b"\n") if line]


def _head(parts: Sequence[bytes]) -> bytes:
    """The first :data:`KEPT_HEAD` bytes of ``parts`` joined (without joining them all)."""
    out = b""
    for part in parts:
        out += part[: KEPT_HEAD - len(out)]
        if len(out) >= KEPT_HEAD:
            break
    return out


def _tail(kept: bytes, more: bytes) -> bytes:
    """The last :data:`KEPT_TAIL` bytes of ``kept`` followed by ``more`` (copying at most that many)."""
    if len(more) >= KEPT_TAIL:
        return more[-KEPT_TAIL:]
    return (kept + more)[-KEPT_TAIL:]


class LineSplitter:
    """Incremental newline framing with a maximum line length.

    Lines keep a trailing carriage return (JSON ignores it). The common case costs no work per line: the
    complete lines of a chunk stay one block of bytes, and only a chunk that could hold an over-long line is
    split to look.
    """

    __slots__ = ("_discarding", "_dropped_head", "_dropped_size", "_dropped_tail", "_held", "_max", "_parts")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be >= 1")
        self._max = max_line_bytes
        self._parts: list[bytes] = []  # an unfinished line's chunks, as they came
        self._held = 0
        self._discarding = False
        self._dropped_size = 0
        self._dropped_head = b""
        self._dropped_tail = b""

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished line held between chunks (never more than ``max_line_bytes``)."""
        return self._held

    def feed(self, chunk: bytes) -> SplitResult:
        """Consume one chunk; return the lines it completed."""
        out = SplitResult()
        end = chunk.rfind(b"\n")
        if end < 0:
            self._hold(chunk)
            return out
        if self._discarding:  # the first line is the rest of an over-long one
            first = chunk.find(b"\n")
            out.dropped.append(self._end_discarding(chunk, first))
            body = chunk[first + 1 : end]
        elif self._parts:  # one copy: the held start of a line, then this chunk's complete lines
            self._parts.append(chunk[:end])
            body = b"".join(self._parts)
            self._parts.clear()
            self._held = 0
        else:
            body = chunk[:end]
        if len(body) > self._max:  # only then can a line in it be too long
            body = self._drop_long(body, out.dropped)
        out.block = body
        self._hold(chunk[end + 1 :])
        return out

    def _drop_long(self, body: bytes, dropped: list[DroppedLine]) -> bytes:
        kept: list[bytes] = []
        offset = 0
        for line in body.split(b"\n"):
            if len(line) > self._max:
                dropped.append(DroppedLine(len(line), line[:KEPT_HEAD], line[-KEPT_TAIL:], offset))
            else:
                kept.append(line)
                offset += len(line) + 1
        return b"\n".join(kept)

    def _hold(self, tail: bytes) -> None:
        """Keep the unfinished end of a chunk, or start discarding it once the line is too long."""
        if not tail:
            return
        if self._discarding:
            self._more_dropped(tail, len(tail))
        elif self._held + len(tail) > self._max:
            self._parts.append(tail)
            self._discarding = True
            self._dropped_size = self._held + len(tail)
            self._dropped_head = _head(self._parts)
            self._dropped_tail = b""
            for part in self._parts[-(KEPT_TAIL + 1) :]:  # enough parts to fill the tail, however small
                self._dropped_tail = _tail(self._dropped_tail, part)
            self._parts.clear()
            self._held = 0
        else:
            self._parts.append(tail)
            self._held += len(tail)

    def _more_dropped(self, chunk: bytes, end: int) -> None:
        """``chunk[:end]`` is more of the line being discarded: count it, fill the head, move the tail."""
        if not end:
            return
        self._dropped_size += end
        head = self._dropped_head
        if len(head) < KEPT_HEAD:  # only with a limit under KEPT_HEAD
            self._dropped_head = head + chunk[: min(end, KEPT_HEAD - len(head))]
        self._dropped_tail = _tail(self._dropped_tail, chunk[max(0, end - KEPT_TAIL) : end])

    def _end_discarding(self, chunk: bytes, end: int) -> DroppedLine:
        """The line being discarded ends with ``chunk[:end]``: what is known of it."""
        self._more_dropped(chunk, end)
        dropped = DroppedLine(self._dropped_size, self._dropped_head, self._dropped_tail)
        self._discarding = False
        self._dropped_size = 0
        self._dropped_head = self._dropped_tail = b""
        return dropped

    def finish(self) -> SplitResult:
        """End of stream: a last unterminated line still counts (or is reported dropped)."""
        out = SplitResult()
        if self._discarding:
            out.dropped.append(self._end_discarding(b"", 0))
        elif self._parts:
            out.block = b"".join(self._parts)
        self._parts.clear()
        self._held = 0
        return out
