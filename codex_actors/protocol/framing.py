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

    lines: list[memoryview | bytes] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)


class LineSplitter:
    """Incremental newline framing with a maximum line length.

    Lines are returned without their newline (nor a trailing carriage return); empty lines are skipped.
    A line that lies wholly inside one chunk comes back as a zero-copy ``memoryview`` of that chunk.
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
        view = memoryview(chunk)
        start = 0
        size = len(chunk)
        while start < size:
            nl = chunk.find(b"\n", start)
            end = size if nl < 0 else nl
            if self._discarding:
                self._dropped_size += end - start
            elif len(self._partial) + (end - start) > self._max:
                self._discarding = True
                self._dropped_size = len(self._partial) + (end - start)
                self._partial.clear()
            elif nl >= 0:
                if self._partial:
                    self._partial += view[start:end]
                    line: memoryview | bytes = bytes(self._partial)
                    self._partial.clear()
                else:
                    line = view[start:end]
                self._emit(line, out)
            else:
                self._partial += view[start:end]
            if nl < 0:
                break
            if self._discarding:
                out.dropped.append(self._dropped_size)
                self._discarding = False
                self._dropped_size = 0
            start = nl + 1
        return out

    def finish(self) -> SplitResult:
        """End of stream: a last unterminated line still counts (or is reported dropped)."""
        out = SplitResult()
        if self._discarding:
            out.dropped.append(self._dropped_size)
        elif self._partial:
            self._emit(bytes(self._partial), out)
        self._partial.clear()
        self._discarding = False
        self._dropped_size = 0
        return out

    @staticmethod
    def _emit(line: memoryview | bytes, out: SplitResult) -> None:
        if line and line[-1] == 0x0D:  # "\r"
            line = line[:-1]
        if len(line):
            out.lines.append(line)
