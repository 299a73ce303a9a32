"""Splitting the engine's stdout byte stream into lines, with a cap on line length.

Pure and synchronous: :class:`LineSplitter` is fed the chunks one read brought and returns the complete lines in
them (as one block of bytes), plus the sizes of the over-long lines it dropped. A line longer than
``max_line_bytes`` is discarded as it streams (never buffered whole) and reading resynchronizes at the next
newline, so a 10 MB line costs no 10 MB buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._config import DEFAULT_MAX_LINE_BYTES

__all__ = ["LineSplitter", "SplitResult", "split_lines"]


@dataclass(slots=True)
class SplitResult:
    """What one chunk completed: ``block``, its complete lines joined by newlines, and the dropped line sizes.

    The block is what the decoder wants (a whole read is decoded in one call); :attr:`lines` splits it.
    """

    block: bytes = b""
    dropped: list[int] = field(default_factory=list)

    @property
    def lines(self) -> list[bytes]:
        """The complete lines, in order, without their newlines; empty lines are skipped."""
        return split_lines(self.block)


def split_lines(block: bytes) -> list[bytes]:
    """The lines of a block, without their newlines; empty lines are skipped."""
    return [line for line in block.split(b"\n") if line]


class LineSplitter:
    """Incremental newline framing with a maximum line length.

    Lines keep a trailing carriage return (JSON ignores it). The common case costs no work per line: the
    complete lines of a chunk stay one block of bytes, and only a chunk that could hold an over-long line is
    split to look.
    """

    __slots__ = ("_discarding", "_dropped_size", "_max", "_partial")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be >= 1")
        self._max = max_line_bytes
        self._partial = bytearray()
        self._discarding = False
        self._dropped_size = 0

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished line held between chunks (never more than ``max_line_bytes``)."""
        return len(self._partial)

    def feed(self, chunk: bytes) -> SplitResult:
        """Consume one chunk; return the lines it completed."""
        out = SplitResult()
        end = chunk.rfind(b"\n")
        if end < 0:
            self._hold(chunk)
            return out
        if self._discarding:  # the first line is the rest of an over-long one
            first = chunk.find(b"\n")
            out.dropped.append(self._dropped_size + first)
            self._discarding = False
            body = chunk[first + 1 : end]
        elif self._partial:  # one copy: the held start of a line, then this chunk's complete lines
            body = b"".join((self._partial, memoryview(chunk)[:end]))
            self._partial.clear()
        else:
            body = chunk[:end]
        if len(body) > self._max:  # only then can a line in it be too long
            kept = []
            for line in body.split(b"\n"):
                if len(line) > self._max:
                    out.dropped.append(len(line))
                else:
                    kept.append(line)
            body = b"\n".join(kept)
        out.block = body
        self._hold(chunk[end + 1 :])
        return out

    def _hold(self, tail: bytes) -> None:
        """Keep the unfinished end of a chunk, or start discarding it once the line is too long."""
        if not tail:
            return
        if self._discarding:
            self._dropped_size += len(tail)
        elif len(self._partial) + len(tail) > self._max:
            self._discarding = True
            self._dropped_size = len(self._partial) + len(tail)
            self._partial.clear()
        else:
            self._partial += tail

    def finish(self) -> SplitResult:
        """End of stream: a last unterminated line still counts (or is reported dropped)."""
        out = SplitResult()
        if self._discarding:
            out.dropped.append(self._dropped_size)
        elif self._partial:
            out.block = bytes(self._partial)
        self._partial.clear()
        self._discarding = False
        self._dropped_size = 0
        return out
