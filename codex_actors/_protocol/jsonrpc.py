"""The JSON-RPC framing the engine speaks: one JSON object per line, both ways, no ``"jsonrpc"`` member.

Every line decodes to exactly one of :class:`ServerRequest`, :class:`ServerNotification`, :class:`Response`
and :class:`ErrorResponse`, or raises :class:`ProtocolError`, in one msgspec pass where it matters:

* a notification (the hot path: thousands per turn) is decoded straight into its typed
  :class:`~codex_actors.models.Notification` subclass through the method-tagged union of every notification;
  a read made only of such lines is decoded in one call (:func:`decode_block`);
* anything else (replies, server requests, an unknown method, params that do not fit the schema) is decoded
  into an envelope whose ``params``/``result`` stay raw bytes (:class:`msgspec.Raw`), decoded where consumed.

Encoding is the one place a value that cannot be sent (a string with a lone surrogate, an object that is not
JSON) is found: every encoder raises :class:`~codex_actors.errors.InvalidInputError` naming its field
(``input[0].text``, ``output_schema.properties.x``, ``model``: the params' own member in snake_case, the rest
as given), before anything is written. The fast path costs nothing: the params are walked only once encoding
has failed, to find the offending value.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import msgspec

from ..errors import InvalidInputError, ProtocolError
from ..models import Notification
from .notifications import TypedNotification, decode_params

__all__ = [
    "ErrorResponse",
    "Incoming",
    "RequestId",
    "Response",
    "RpcErrorBody",
    "ServerNotification",
    "ServerRequest",
    "decode_block",
    "decode_lines",
    "decode_message",
    "decode_payload",
    "encode_error",
    "encode_notification",
    "encode_request",
    "encode_result",
    "wire_params",
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


#: A decoded notification: the public :class:`~codex_actors.models.Notification` (a typed subclass of it for
#: every method the schema knows).
ServerNotification = Notification


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
_decode_typed = msgspec.json.Decoder(TypedNotification).decode
_decode_typed_batch = msgspec.json.Decoder(list[TypedNotification]).decode
_encoder = msgspec.json.Encoder()


def decode_block(block: bytes) -> list[Notification] | None:
    """Decode a block of newline-separated lines that are all typed notifications, in one msgspec call.

    The newlines become commas and the block a JSON array (a JSON text never holds a raw newline), decoded
    straight into the typed notification classes. ``None`` when any line is something else (a reply, a server
    request, an unknown method, a bad line...): then :func:`decode_lines` takes the lines one by one.
    """
    try:
        return _decode_typed_batch(b"".join((b"[", block.replace(b"\n", b","), b"]")))
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


def decode_lines(lines: Sequence[bytes]) -> list[Incoming | ProtocolError]:
    """Decode every line, in order; a bad line gives its :class:`ProtocolError` in its place."""
    decode_typed = _decode_typed
    out: list[Incoming | ProtocolError] = []
    append = out.append
    for line in lines:
        if line.startswith(b'{"method"'):
            try:
                append(decode_typed(line))
                continue
            except (msgspec.DecodeError, UnicodeDecodeError):
                pass
        try:
            append(_decode_enveloped(line))
        except ProtocolError as exc:
            append(exc)
    return out


def decode_message(line: bytes) -> Incoming:
    """Decode one line into a message, or raise :class:`ProtocolError` (never anything else)."""
    message = decode_lines((line,))[0]
    if isinstance(message, ProtocolError):
        raise message
    return message


def _decode_enveloped(line: bytes) -> Incoming:
    """The cold path: replies, server requests, and notifications the typed union does not fit."""
    try:
        env = _decode_envelope(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not a JSON-RPC message: {exc}") from None
    if env.method is not msgspec.UNSET:
        params = _EMPTY if env.params is msgspec.UNSET else env.params
        if env.id is msgspec.UNSET:
            emitted = None if env.emittedAtMs is msgspec.UNSET else env.emittedAtMs
            return Notification(env.method, decode_params(env.method, params), emitted)
        if env.id is None:
            raise ProtocolError("a request with a null id")
        return ServerRequest(env.id, env.method, params)
    if env.error is not msgspec.UNSET:
        return ErrorResponse(None if env.id is msgspec.UNSET else env.id, env.error)
    if env.result is not msgspec.UNSET and env.id is not msgspec.UNSET and env.id is not None:
        return Response(env.id, env.result)
    raise ProtocolError("a JSON object that is neither a request, a notification nor a reply")


def decode_payload(raw: msgspec.Raw | bytes, into: type[T]) -> T:
    """Decode ``params`` or ``result`` bytes into ``into`` (a Struct, a dict, ``Any``...)."""
    return msgspec.json.decode(raw, type=into)


def wire_params(params: msgspec.Struct | Mapping[str, Any]) -> dict[str, Any]:
    """Params as sent: a generated Struct under its wire names, or a dict; either way without unset values.

    A Struct leaves out every field at its default; a dict (already keyed by wire names) its ``None`` values.
    """
    if isinstance(params, msgspec.Struct):
        wire: dict[str, Any] = msgspec.to_builtins(params)
        return wire
    return {key: value for key, value in params.items() if value is not None}


_ENCODE_ERRORS = (TypeError, ValueError, msgspec.EncodeError)
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _why(exc: BaseException) -> str:
    if isinstance(exc, UnicodeEncodeError):
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
        return f"{bad!a} at position {exc.start} cannot be sent: {exc.reason} (not valid UTF-8)"
    return f"cannot be sent as JSON: {exc}"


def _children(value: Any) -> list[tuple[Any, Any]] | None:
    """``(key or index, value)`` of each member of a container; ``None`` for a leaf."""
    if isinstance(value, msgspec.Struct):
        return [(f.encode_name, getattr(value, f.name)) for f in msgspec.structs.fields(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, Mapping):
        return [((key,), key) for key in value] + list(value.items())  # a key first, as ``(key,)``
    if isinstance(value, list | tuple | set | frozenset):
        return list(enumerate(value))
    return None


def _step(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not path:  # one of the params: named as the Python keyword it comes from
        return _CAMEL.sub(r"_\1", key).lower() if isinstance(key, str) and _NAME.fullmatch(key) else f"[{key!r}]"
    return f"{path}.{key}" if isinstance(key, str) and _NAME.fullmatch(key) else f"{path}[{key!r}]"


def _offender(value: Any, path: str) -> tuple[str, BaseException] | None:
    """The path of the first value in ``value`` that does not encode, and its error (``None``: it encodes)."""
    try:
        _encoder.encode(value)
        return None
    except _ENCODE_ERRORS as exc:
        error: BaseException = exc
    for key, child in _children(value) or ():
        if isinstance(key, tuple):  # a mapping's key itself (a lone surrogate in it)
            found = _offender(child, "")
            if found is not None:
                return _step(path, child), found[1]
            continue
        found = _offender(child, _step(path, key))
        if found is not None:
            return found
    return path or "params", error


def _line(message: dict[str, Any], payload: str) -> bytes:
    buf = bytearray()
    try:
        _encoder.encode_into(message, buf)
    except _ENCODE_ERRORS:
        found = _offender(message.get(payload), "")
        if found is None:  # pragma: no cover - the envelope's own members always encode
            raise
        field, error = found
        raise InvalidInputError(field, _why(error)) from error
    buf += b"\n"
    return bytes(buf)


def encode_request(
    request_id: RequestId, method: str, params: Any = None, trace: dict[str, str] | None = None
) -> bytes:
    """A request line; ``params`` (a dict or a Struct) is left out entirely when ``None``.

    ``trace`` is the W3C trace context (``{"traceparent": ..., "tracestate": ...}``) the engine's spans join.
    A value in ``params`` that cannot be sent raises :class:`~codex_actors.errors.InvalidInputError`.
    """
    message: dict[str, Any] = {"id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    if trace is not None:
        message["trace"] = trace
    return _line(message, "params")


def encode_notification(method: str, params: Any = None) -> bytes:
    """A notification line, e.g. ``{"method":"initialized"}``."""
    if params is None:
        return _line({"method": method}, "params")
    return _line({"method": method, "params": params}, "params")


def encode_result(request_id: RequestId, result: Any) -> bytes:
    """The answer to a server request."""
    return _line({"id": request_id, "result": result}, "result")


def encode_error(request_id: RequestId, code: int, message: str, data: Any = None) -> bytes:
    """An error answer to a server request."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return _line({"id": request_id, "error": error}, "error")
