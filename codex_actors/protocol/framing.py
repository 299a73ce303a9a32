"""Splitting the engine's stdout byte stream into lines, with a cap on line length.

Pure and synchronous: :class:`LineSplitter` is fed the chunks one read brought and returns the complete lines in
them, plus how many over-long lines it dropped. A line longer than ``max_line_bytes`` is discarded as it streams
(never buffered whole) and reading resynchronizes at the next newline, so a 10 MB line costs no 10 MB buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_MAX_LINE_BYTES", "LineSplitter", "SplitResult"]

#: Default cap on one line from the engine (16 MiB).
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass(slots=True)
class SplitResult:
    """The lines completed by one chunk, in order, and the sizes of the lines dropped as too long."""

    lines: list[bytes] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)


class LineSplitter:
    """Incremental newline framing with a maximum line length.

    Lines are returned without their newline (a trailing carriage return is left: JSON ignores it); empty
    lines are skipped. The split itself is ``bytes.split``, so a chunk of many small lines costs one C call.
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
        parts = chunk.split(b"\n")
        tail = parts.pop()  # after the last newline: the start of an unfinished line
        if parts:
            first = parts[0]
            if self._discarding:
                out.dropped.append(self._dropped_size + len(first))
                self._discarding = False
                parts[0] = b""
            elif self._partial:
                self._partial += first
                parts[0] = bytes(self._partial)
                self._partial.clear()
            if len(chunk) > self._max:  # only then can a line inside this chunk be too long
                for index, line in enumerate(parts):
                    if len(line) > self._max:
                        out.dropped.append(len(line))
                        parts[index] = b""
            elif len(parts[0]) > self._max:
                out.dropped.append(len(parts[0]))
                parts[0] = b""
            out.lines = [line for line in parts if line]
        self._hold(tail)
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
            out.lines.append(bytes(self._partial))
        self._partial.clear()
        self._discarding = False
        self._dropped_size = 0
        return out
