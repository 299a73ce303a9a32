"""The JSON-RPC framing the engine speaks: one JSON object per line, both ways, no ``"jsonrpc"`` member.

Decoding is one msgspec pass into an envelope whose ``params``/``result`` stay raw bytes
(:class:`msgspec.Raw`), so the reader thread pays only for what routing needs; the typed decode of a payload
happens later, where it is consumed. Every line decodes to exactly one of :class:`ServerRequest`,
:class:`ServerNotification`, :class:`Response` and :class:`ErrorResponse`, or raises :class:`ProtocolError`.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeVar

import msgspec

from ..errors import ProtocolError
from .routing import route_keys

__all__ = [
    "ErrorResponse",
    "Incoming",
    "RequestId",
    "Response",
    "RpcErrorBody",
    "ServerNotification",
    "ServerRequest",
    "decode_message",
    "decode_payload",
    "encode_error",
    "encode_notification",
    "encode_request",
    "encode_result",
]

RequestId: TypeAlias = int | str
T = TypeVar("T")

_EMPTY = msgspec.Raw(b"{}")


class RpcErrorBody(msgspec.Struct, frozen=True):
    """A JSON-RPC error object: ``{"code", "message", "data"?}``."""

    code: int
    message: str
    data: Any = None


class ServerRequest(msgspec.Struct, frozen=True):
    """A request from the engine (an approval, a tool call, ...): answer it with the same ``id``."""

    id: RequestId
    method: str
    params: msgspec.Raw = _EMPTY


class ServerNotification(msgspec.Struct, frozen=True):
    """A notification from the engine; ``params`` is the raw JSON, decoded where it is consumed.

    ``thread_id`` and ``turn_id`` are its routing keys (see :mod:`~codex_actors.protocol.routing`), read once
    when the line is decoded.
    """

    method: str
    params: msgspec.Raw = _EMPTY
    emitted_at_ms: int | None = None
    thread_id: str | None = None
    turn_id: str | None = None


class Response(msgspec.Struct, frozen=True):
    """A successful reply to one of our requests."""

    id: RequestId
    result: msgspec.Raw


class ErrorResponse(msgspec.Struct, frozen=True):
    """A failed reply to one of our requests (``id`` is ``None`` when the engine could not tell which)."""

    id: RequestId | None
    error: RpcErrorBody


Incoming: TypeAlias = ServerRequest | ServerNotification | Response | ErrorResponse


class _Envelope(msgspec.Struct):
    id: RequestId | msgspec.UnsetType | None = msgspec.UNSET
    method: str | msgspec.UnsetType = msgspec.UNSET
    params: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: RpcErrorBody | msgspec.UnsetType = msgspec.UNSET
    emittedAtMs: int | msgspec.UnsetType | None = msgspec.UNSET


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_encoder = msgspec.json.Encoder()


def decode_message(line: bytes | bytearray | memoryview) -> Incoming:
    """Decode one line into a message, or raise :class:`ProtocolError` (never anything else)."""
    try:
        env = _decode_envelope(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not a JSON-RPC message: {exc}") from None
    if env.method is not msgspec.UNSET:
        params = _EMPTY if env.params is msgspec.UNSET else env.params
        if env.id is msgspec.UNSET:
            emitted = None if env.emittedAtMs is msgspec.UNSET else env.emittedAtMs
            keys = route_keys(params)
            return ServerNotification(env.method, params, emitted, keys.thread_id, keys.turn_id)
        if env.id is None:
            raise ProtocolError("a request with a null id")
        return ServerRequest(env.id, env.method, params)
    if env.error is not msgspec.UNSET:
        return ErrorResponse(None if env.id is msgspec.UNSET else env.id, env.error)
    if env.result is not msgspec.UNSET and env.id is not msgspec.UNSET and env.id is not None:
        return Response(env.id, env.result)
    raise ProtocolError("a JSON object that is neither a request, a notification nor a reply")


def decode_payload(raw: msgspec.Raw | bytes, type: type[T]) -> T:
    """Decode ``params`` or ``result`` bytes into ``type`` (a Struct, a dict, ``Any``...)."""
    return msgspec.json.decode(raw, type=type)


def _line(message: dict[str, Any]) -> bytes:
    buf = bytearray()
    _encoder.encode_into(message, buf)
    buf += b"\n"
    return bytes(buf)


def encode_request(request_id: RequestId, method: str, params: Any = None) -> bytes:
    """A request line; ``params`` (a dict or a Struct) is left out entirely when ``None``."""
    if params is None:
        return _line({"id": request_id, "method": method})
    return _line({"id": request_id, "method": method, "params": params})


def encode_notification(method: str, params: Any = None) -> bytes:
    """A notification line, e.g. ``{"method":"initialized"}``."""
    if params is None:
        return _line({"method": method})
    return _line({"method": method, "params": params})


def encode_result(request_id: RequestId, result: Any) -> bytes:
    """The answer to a server request."""
    return _line({"id": request_id, "result": result})


def encode_error(request_id: RequestId, code: int, message: str, data: Any = None) -> bytes:
    """An error answer to a server request."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return _line({"id": request_id, "error": error})
