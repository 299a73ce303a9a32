"""Line framing: splitting stdout chunks into lines with a length cap."""

from __future__ import annotations

import pytest

from codex_actors._protocol.framing import LineSplitter


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> tuple[list[bytes], list[int]]:
    lines: list[bytes] = []
    dropped: list[int] = []
    for chunk in chunks:
        result = splitter.feed(chunk)
        lines += [bytes(line) for line in result.lines]
        dropped += result.dropped
    end = splitter.finish()
    return lines + [bytes(line) for line in end.lines], dropped + end.dropped


def test_lines_across_chunks() -> None:
    lines, dropped = feed_all(LineSplitter(), [b'{"a"', b":1}\n{", b'"b":2}\r\n\n', b"tail"])
    assert lines == [b'{"a":1}', b'{"b":2}\r', b"tail"]  # JSON ignores the trailing \r
    assert dropped == []


def test_over_long_lines_are_dropped_and_reading_resyncs() -> None:
    splitter = LineSplitter(max_line_bytes=8)
    lines, dropped = feed_all(splitter, [b"short\n", b"0123456", b"789abcdef", b"ghi\nok\n", b"x" * 20])
    assert lines == [b"short", b"ok"]
    assert dropped == [19, 20]
    assert splitter.buffered == 0


def test_a_line_exactly_at_the_limit_is_kept() -> None:
    lines, dropped = feed_all(LineSplitter(max_line_bytes=4), [b"12", b"34\n", b"1234\n"])
    assert lines == [b"1234", b"1234"]
    assert dropped == []


def test_the_partial_buffer_never_exceeds_the_limit() -> None:
    splitter = LineSplitter(max_line_bytes=10)
    for _ in range(100):
        splitter.feed(b"x" * 7)
        assert splitter.buffered <= 10


def test_a_long_line_inside_one_big_chunk_is_dropped() -> None:
    lines, dropped = feed_all(LineSplitter(max_line_bytes=4), [b"ok\n" + b"x" * 10 + b"\nfine\n"])
    assert lines == [b"ok", b"fine"]
    assert dropped == [10]


def test_bad_limit() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        LineSplitter(0)
