"""Hypothesis: the codec round-trips, never raises anything but ProtocolError, and framing loses no line."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_actors._protocol.framing import LineSplitter, split_lines
from codex_actors._protocol.jsonrpc import (
    ErrorResponse,
    Response,
    ServerNotification,
    ServerRequest,
    decode_message,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
)
from codex_actors.errors import ProtocolError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
params = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
ids = st.integers(0, 2**31) | st.text(min_size=1, max_size=12)
methods = st.text(min_size=1, max_size=30)


@given(ids, methods, params)
def test_request_round_trip(request_id: int | str, method: str, p: dict[str, Any]) -> None:
    decoded = decode_message(encode_request(request_id, method, p).rstrip(b"\n"))
    assert isinstance(decoded, ServerRequest)
    assert (decoded.id, decoded.method) == (request_id, method)
    assert msgspec.json.decode(decoded.params) == p


@given(methods, params)
def test_notification_round_trip(method: str, p: dict[str, Any]) -> None:
    decoded = decode_message(encode_notification(method, p))
    assert isinstance(decoded, ServerNotification)
    assert decoded.method == method
    assert msgspec.json.decode(decoded.params) == p


@given(ids, json_values)
def test_result_round_trip(request_id: int | str, result: Any) -> None:
    decoded = decode_message(encode_result(request_id, result))
    assert isinstance(decoded, Response)
    assert decoded.id == request_id
    assert msgspec.json.decode(decoded.result) == result


@given(ids, st.integers(-(2**31), 2**31), st.text(max_size=40), json_values)
def test_error_round_trip(request_id: int | str, code: int, message: str, data: Any) -> None:
    decoded = decode_message(encode_error(request_id, code, message, data))
    assert isinstance(decoded, ErrorResponse)
    assert (decoded.id, decoded.error.code, decoded.error.message, decoded.error.data) == (
        request_id,
        code,
        message,
        data,
    )


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    try:
        message = decode_message(data)
    except ProtocolError:
        return
    assert isinstance(message, ServerRequest | ServerNotification | Response | ErrorResponse)


@given(st.lists(json_values.map(lambda v: msgspec.json.encode({"v": v})), max_size=20), st.data())
def test_framing_loses_and_invents_no_line(lines: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    splitter = LineSplitter()
    out: list[bytes] = []
    for chunk in chunks:
        out += [bytes(line) for line in splitter.feed(chunk).lines]
    out += [bytes(line) for line in splitter.finish().lines]
    assert out == lines


@given(st.lists(st.binary(max_size=30).filter(lambda b: b"\n" not in b), max_size=20), st.integers(1, 16))
def test_framing_drops_exactly_the_over_long_lines(lines: list[bytes], limit: int) -> None:
    splitter = LineSplitter(max_line_bytes=limit)
    result = splitter.feed(b"".join(line + b"\n" for line in lines))
    kept = [bytes(line) for line in result.lines]
    expected = [line for line in lines if len(line) <= limit]
    assert kept == [line for line in expected if line]
    too_long = [line for line in lines if len(line) > limit]
    assert [(d.size, d.head, d.tail) for d in result.dropped] == [(len(line), line, line) for line in too_long]


@given(
    st.lists(st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b), min_size=1, max_size=12),
    st.integers(1, 16),
    st.lists(st.integers(1, 30), max_size=30),
)
def test_framing_keeps_every_line_in_its_place_however_the_stream_is_cut(
    lines: list[bytes], limit: int, sizes: list[int]
) -> None:
    """Kept lines and dropped ones (with their whole bytes, as head and tail here) come out in stream order."""
    stream = b"".join(line + b"\n" for line in lines)
    splitter = LineSplitter(max_line_bytes=limit)
    seen: list[tuple[str, bytes]] = []
    pos = 0
    for size in [*sizes, len(stream)]:
        result = splitter.feed(stream[pos : pos + size])
        pos += size
        start = 0
        for dropped in result.dropped:
            seen += [("kept", line) for line in split_lines(result.block[start : max(start, dropped.offset)])]
            start = max(start, dropped.offset)
            assert dropped.head == dropped.tail  # short lines: both are the whole line
            seen.append(("dropped", dropped.head))
        seen += [("kept", line) for line in split_lines(result.block[start:])]
        if pos >= len(stream):
            break
    assert seen == [("dropped" if len(line) > limit else "kept", line) for line in lines]
