"""The JSON-RPC codec: every line is one message kind or a ProtocolError."""

from __future__ import annotations

import msgspec
import pytest

from codex_actors._protocol.jsonrpc import (
    ErrorResponse,
    Response,
    ServerNotification,
    ServerRequest,
    decode_block,
    decode_message,
    decode_payload,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
)
from codex_actors.errors import CodexError, InvalidInputError, ProtocolError


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


def test_routing_keys_of_notifications_the_schema_does_not_know() -> None:
    def keys(params: bytes) -> tuple[str | None, str | None]:
        note = decode_message(b'{"method":"x/unknown","params":' + params + b"}")
        assert isinstance(note, ServerNotification)
        return note.thread_id, note.turn_id

    assert keys(b'{"threadId":"t","turnId":"u","delta":"x"}') == ("t", "u")
    assert keys(b'{"threadId":"t","turn":{"id":"v","items":[{"type":"x"}]}}') == ("t", "v")
    for odd in (b"null", b"[]", b'{"threadId":1}', b'{"turn":"x"}', b'{"turn":{"id":3}}'):
        assert keys(odd) == (None, None)


def test_routing_keys_of_typed_notifications() -> None:
    delta = decode_message(
        b'{"method":"item/agentMessage/delta","params":{"threadId":"t","turnId":"u","itemId":"i","delta":"x"}}'
    )
    completed = decode_message(
        b'{"method":"turn/completed","params":{"threadId":"t","turn":{"id":"v","items":[],"status":"completed"}}}'
    )
    warning = decode_message(b'{"method":"warning","params":{"message":"m"}}')
    assert isinstance(delta, ServerNotification) and isinstance(completed, ServerNotification)
    assert isinstance(warning, ServerNotification)
    assert [(n.thread_id, n.turn_id) for n in (delta, completed, warning)] == [
        ("t", "u"),
        ("t", "v"),
        (None, None),
    ]


def test_a_block_of_typed_notifications_decodes_in_one_call() -> None:
    lines = [
        b'{"method":"item/agentMessage/delta","params":{"threadId":"t","turnId":"u","itemId":"i","delta":"a"}}',
        b'{"method":"turn/completed","params":{"threadId":"t","turn":{"id":"u","items":[],"status":"completed"}}}\r',
    ]
    batch = decode_block(b"\n".join(lines))
    assert batch == [decode_message(line) for line in lines]
    assert [type(note).__name__ for note in batch or []] == ["ItemAgentMessageDeltaEvent", "TurnCompletedEvent"]


@pytest.mark.parametrize(
    "odd",
    [
        b'{"id":1,"result":{}}',  # a reply
        b'{"id":1,"method":"item/tool/call","params":{}}',  # a server request
        b'{"method":"x/unknown","params":{}}',  # a method the schema does not know
        b'{"method":"item/agentMessage/delta","params":{"threadId":1}}',  # params the schema rejects
        b"",  # an empty line
        b"{not json",
    ],
)
def test_a_block_with_anything_else_is_left_to_decode_lines(odd: bytes) -> None:
    delta = b'{"method":"item/agentMessage/delta","params":{"threadId":"t","turnId":"u","itemId":"i","delta":"a"}}'
    assert decode_block(delta + b"\n" + odd) is None
    assert decode_block(delta) is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (
            {"threadId": "t", "input": [{"type": "text", "text": "ok"}, {"type": "text", "text": "a\ud800b"}]},
            "input[1].text",
        ),
        ({"threadId": "t", "outputSchema": {"properties": {"x": object()}}}, "output_schema.properties.x"),
        ({"model": "gpt\udfff"}, "model"),
        ({"outputSchema": {"enum": ["a", {"b\ud800": 1}]}}, "output_schema.enum[1]['b\\ud800']"),
    ],
)
def test_a_value_that_cannot_be_sent_is_an_invalid_input_error_naming_its_field(
    params: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        encode_request(1, "turn/start", params)
    assert info.value.field == field
    assert isinstance(info.value, ValueError) and isinstance(info.value, CodexError)
    assert str(info.value).startswith(f"{field}: ")


def test_a_struct_param_that_cannot_be_sent_is_named_by_its_wire_field() -> None:
    class Params(msgspec.Struct, omit_defaults=True, rename="camel"):
        thread_id: str
        base_instructions: str | None = None

    with pytest.raises(InvalidInputError) as info:
        encode_request(1, "thread/start", Params("t", "x\ud800"))
    assert info.value.field == "base_instructions"
    with pytest.raises(InvalidInputError) as result:
        encode_result(1, {"contentItems": [{"type": "inputText", "text": "\ud800"}]})
    assert result.value.field == "content_items[0].text"
