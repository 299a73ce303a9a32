"""Line framing: splitting stdout chunks into lines with a length cap."""

from __future__ import annotations

import tracemalloc

import pytest

from codex_actors._protocol.framing import KEPT_HEAD, KEPT_TAIL, DroppedLine, LineSplitter


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> tuple[list[bytes], list[int]]:
    lines: list[bytes] = []
    dropped: list[int] = []
    for chunk in chunks:
        result = splitter.feed(chunk)
        lines += [bytes(line) for line in result.lines]
        dropped += [line.size for line in result.dropped]
    end = splitter.finish()
    return lines + [bytes(line) for line in end.lines], dropped + [line.size for line in end.dropped]


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


def dropped_lines(splitter: LineSplitter, chunks: list[bytes]) -> list[DroppedLine]:
    out: list[DroppedLine] = []
    for chunk in chunks:
        out += splitter.feed(chunk).dropped
    return out + splitter.finish().dropped


def test_a_dropped_line_keeps_its_head_and_tail_whichever_way_it_arrived() -> None:
    line = bytes(range(256)).replace(b"\n", b" ") * 100  # 25,600 bytes, no newline inside
    head, tail = line[:KEPT_HEAD], line[-KEPT_TAIL:]
    in_one_chunk = dropped_lines(LineSplitter(1000), [b"a\n" + line + b"\nb\n"])
    in_small_chunks = dropped_lines(
        LineSplitter(1000), [line[i : i + 777] for i in range(0, len(line), 777)] + [b"\n"]
    )
    at_the_end = dropped_lines(LineSplitter(1000), [line[:5000], line[5000:]])
    newline_at_a_chunk_start = dropped_lines(LineSplitter(1000), [line, b"\nok\n"])
    for dropped in (in_one_chunk, in_small_chunks, at_the_end, newline_at_a_chunk_start):
        assert [(d.size, d.head, d.tail) for d in dropped] == [(len(line), head, tail)]


def test_a_dropped_line_knows_where_it_was_among_the_kept_ones() -> None:
    splitter = LineSplitter(10)
    first = splitter.feed(b"one\n" + b"x" * 20 + b"\ntwo\n" + b"y" * 30)
    assert first.block == b"one\ntwo"
    assert [d.offset for d in first.dropped] == [4]  # after "one\n": the lines before it are block[:4]
    second = splitter.feed(b"yyy\nthree\n")
    assert second.block == b"three" and [(d.offset, d.size) for d in second.dropped] == [(0, 33)]


def test_a_long_line_is_held_as_it_came_and_copied_once() -> None:
    """A 17.8 MB line in 1 MiB reads: no copy while it streams, one join at its end (never O(n^2))."""
    mib = 1 << 20
    chunks = [bytes([65 + i]) * mib for i in range(17)]  # distinct objects, allocated before measuring
    end = b"z" * (mib // 2) + b"\n"
    splitter = LineSplitter(256 * mib)
    tracemalloc.start()
    try:
        for chunk in chunks:
            assert splitter.feed(chunk).block == b""
        streaming_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        block = splitter.feed(end).block
        joined_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert splitter.buffered == 0
    assert len(block) == 17 * mib + mib // 2
    assert streaming_peak < mib // 4  # the chunks are kept as they came: nothing copied while the line streams
    assert joined_peak < len(block) + mib  # at its end, one copy of the line (no intermediate buffers)
