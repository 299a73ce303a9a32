"""The JSON-RPC codec: every line is one message kind or a ProtocolError."""

from __future__ import annotations

import msgspec
import pytest

from codex_actors.errors import ProtocolError
from codex_actors.protocol.jsonrpc import (
    ErrorResponse,
    Response,
    ServerNotification,
    ServerRequest,
    decode_message,
    decode_payload,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
)
from codex_actors.protocol.routing import route_keys


def test_decode_each_kind() -> None:
    response = decode_message(b'{"id":1,"result":{"a":1}}')
    assert isinstance(response, Response)
    assert decode_payload(response.result, dict) == {"a": 1}
    null_result = decode_message(b'{"id":"s","result":null}')
    assert isinstance(null_result, Response)
    assert bytes(null_result.result) == b"null"

    note = decode_message(b'{"method":"turn/started","params":{"threadId":"t"},"emittedAtMs":7}')
    assert isinstance(note, ServerNotification)
    assert (note.method, note.emitted_at_ms) == ("turn/started", 7)
    bare = decode_message(b'{"method":"x"}')
    assert isinstance(bare, ServerNotification)
    assert bytes(bare.params) == b"{}"

    request = decode_message(b'{"id":0,"method":"item/tool/call","params":{"callId":"c"}}')
    assert isinstance(request, ServerRequest)
    assert request.id == 0

    error = decode_message(b'{"id":2,"error":{"code":-32600,"message":"bad","data":{"k":1}}}')
    assert isinstance(error, ErrorResponse)
    assert (error.id, error.error.code, error.error.message, error.error.data) == (2, -32600, "bad", {"k": 1})
    anonymous = decode_message(b'{"error":{"code":-32700,"message":"parse"}}')
    assert isinstance(anonymous, ErrorResponse)
    assert anonymous.id is None


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"not json",
        b"[1,2]",
        b"{}",
        b'{"id":1}',
        b'{"id":null,"result":1}',
        b'{"id":null,"method":"x"}',
        b'{"method":5}',
        b'{"id":1,"error":{"code":"x","message":"m"}}',
        b"\xff\xfe",
    ],
)
def test_bad_lines_raise_protocol_error(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_message(line)


def test_encoders() -> None:
    assert encode_request(1, "a") == b'{"id":1,"method":"a"}\n'
    assert encode_request(1, "a", {"b": None}) == b'{"id":1,"method":"a","params":{"b":null}}\n'
    assert encode_notification("initialized") == b'{"method":"initialized"}\n'
    assert encode_notification("n", {"x": 1}) == b'{"method":"n","params":{"x":1}}\n'
    assert encode_result(0, {"decision": "accept"}) == b'{"id":0,"result":{"decision":"accept"}}\n'
    assert encode_error(0, -32601, "no") == b'{"id":0,"error":{"code":-32601,"message":"no"}}\n'
    assert encode_error(0, -1, "no", {"d": 1}) == b'{"id":0,"error":{"code":-1,"message":"no","data":{"d":1}}}\n'


def test_structs_encode_as_params() -> None:
    class Params(msgspec.Struct, omit_defaults=True):
        threadId: str
        cwd: str | None = None

    assert (
        encode_request(3, "thread/read", Params("t"))
        == b'{"id":3,"method":"thread/read","params":{"threadId":"t"}}\n'
    )


def test_route_keys() -> None:
    keys = route_keys(msgspec.Raw(b'{"threadId":"t","turnId":"u","delta":"x"}'))
    assert (keys.thread_id, keys.turn_id) == ("t", "u")
    nested = route_keys(b'{"threadId":"t","turn":{"id":"v","items":[{"type":"x"}]}}')
    assert (nested.thread_id, nested.turn_id) == ("t", "v")
    for odd in (b"null", b"[]", b'{"threadId":1}', b'{"turn":"x"}', b"{"):
        keys = route_keys(odd)
        assert (keys.thread_id, keys.turn_id) == (None, None)
