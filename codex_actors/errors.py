"""The error hierarchy: the official SDK's classes, plus this project's own.

The official classes (``CodexError`` down to ``RetryLimitExceededError``) keep their names, bases, constructor
and message format, so ``except openai_codex.X`` code ports unchanged. This project adds:

* :class:`ProtocolError`: a line from the engine that is not a JSON-RPC message. The port drops it and keeps
  reading; it is reported as an event, never raised out of the reader.
* :class:`RequestTimeoutError`: a request got no reply within its timeout.
* :class:`EngineCrashed`: the engine died more often than the supervisor's restart intensity allows.
* :class:`OutputValidationError`: a structured-output turn's answer did not validate against ``output_type``.
* :class:`UnknownThreadError`: the engine has no such thread (an ``InvalidRequestError``, as the engine's answer).
* :class:`UnknownMessageError`: an actor was sent a message it does not handle (it answers this, and lives on).
* :class:`LineTooLongError`: a line from the engine was longer than ``CodexConfig.max_line_bytes``; what it
  belonged to (a request, a turn) fails with it.
* :class:`EngineHungError`: the engine stopped answering (no word within the heartbeat's bound); it was killed
  and restarted, and what was in flight fails with it.
* :class:`TurnTimeoutError`: a turn ran past ``CodexConfig.turn_timeout_s``; it was interrupted.
* :class:`InvalidInputError`: a value passed in cannot be sent to the engine (a lone surrogate in a string, a
  schema that is not JSON); ``field`` names it. Raised before anything is sent.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CodexError",
    "CodexRpcError",
    "EngineCrashed",
    "EngineHungError",
    "InternalRpcError",
    "InvalidInputError",
    "InvalidParamsError",
    "InvalidRequestError",
    "JsonRpcError",
    "LineTooLongError",
    "MethodNotFoundError",
    "OutputValidationError",
    "ParseError",
    "ProtocolError",
    "RequestTimeoutError",
    "RetryLimitExceededError",
    "ServerBusyError",
    "TransportClosedError",
    "TurnTimeoutError",
    "UnknownMessageError",
    "UnknownThreadError",
    "is_retryable_error",
]


def _rebuilt(cls: type[CodexError], args: tuple[Any, ...], state: dict[str, Any]) -> CodexError:
    """An unpickled error: its class, message arguments and attributes as they were, no ``__init__`` run."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class CodexError(Exception):
    """Base class of every error this SDK raises on purpose.

    Every one pickles (across processes, through Ray) as the same class with the same attributes.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


class TransportClosedError(CodexError):
    """The engine process is gone, or was never started, or the stream was closed.

    ``exit_code`` is the engine's exit status when it is known, ``stderr_tail`` the last of what it wrote
    to stderr (bounded). Both are ``None`` when they do not apply (for example after ``close()``).
    """

    def __init__(self, message: str, *, exit_code: int | None = None, stderr_tail: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


class ProtocolError(CodexError):
    """Bytes from the engine that are not a well-formed JSON-RPC message."""


class RequestTimeoutError(CodexError, TimeoutError):
    """A request to the engine got no reply within its timeout. The engine may still act on it."""

    def __init__(self, method: str, timeout: float) -> None:
        super().__init__(f"{method} got no reply within {timeout:g} s")
        self.method = method
        self.timeout = timeout


class EngineCrashed(TransportClosedError):
    """The engine kept dying: the supervisor gave up restarting it and stopped the runtime."""


class EngineHungError(TransportClosedError):
    """The engine stopped answering: it said nothing within the heartbeat's bound, so it was killed.

    The runtime restarts it like a crashed one; what was in flight on it fails with this error.
    """


class LineTooLongError(ProtocolError):
    """A line from the engine was longer than the limit (``CodexConfig.max_line_bytes``) and was dropped.

    ``size`` is the line's length in bytes, ``limit`` the limit. What the line belonged to (the request it
    answered, the turn it was an event of) fails with this error at once.
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class TurnTimeoutError(CodexError, TimeoutError):
    """A turn ran longer than ``CodexConfig.turn_timeout_s``: it was interrupted and failed with this error."""

    def __init__(self, turn_id: str | None, timeout: float) -> None:
        super().__init__(f"turn {turn_id} did not finish within {timeout:g} s; it was interrupted")
        self.turn_id = turn_id
        self.timeout = timeout


class InvalidInputError(CodexError, ValueError):
    """A value passed in cannot be sent to the engine; ``field`` names it (for example ``input[0].text``).

    Raised before anything is sent: a string with a lone surrogate (not UTF-8), an ``output_schema`` that does
    not encode as JSON. A ``ValueError``, as the standard library's own encoding errors are.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class JsonRpcError(CodexError):
    """A JSON-RPC error object from the engine: ``code``, ``message`` and ``data`` as sent."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"JSON-RPC error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data


class CodexRpcError(JsonRpcError):
    """Base of the typed JSON-RPC errors."""


class ParseError(CodexRpcError):
    """-32700: the engine could not parse the request."""


class InvalidRequestError(CodexRpcError):
    """-32600: the engine rejected the request (0.163.0 also uses it for unknown methods and bad params)."""


class UnknownThreadError(InvalidRequestError):
    """The engine knows no thread of this id (no rollout for it): ``thread_id`` says which."""

    def __init__(self, code: int, message: str, data: Any = None, *, thread_id: str) -> None:
        super().__init__(code, message, data)
        self.thread_id = thread_id


class MethodNotFoundError(CodexRpcError):
    """-32601: the method does not exist."""


class InvalidParamsError(CodexRpcError):
    """-32602: the params do not fit the method."""


class InternalRpcError(CodexRpcError):
    """-32603: the engine failed internally."""


class ServerBusyError(CodexRpcError):
    """The engine is overloaded; the call may succeed if retried."""


class RetryLimitExceededError(ServerBusyError):
    """The engine ran out of its own retries for the operation."""


_OVERLOAD_MARKERS = frozenset({"server_overloaded", "serveroverloaded"})
#: The engine's own ingress-queue-full code (codex-rs ``OVERLOADED_ERROR_CODE``); it sends no data with it.
ENGINE_OVERLOADED_CODE = -32001


def _is_overload_marker(value: object) -> bool:
    return isinstance(value, str) and value.lower() in _OVERLOAD_MARKERS


def _is_server_overloaded(data: Any) -> bool:
    """Whether ``data`` carries the overload marker anywhere, in either spelling.

    The official SDK matches only ``server_overloaded``; the engine's v2 ``CodexErrorInfo`` spells it
    ``serverOverloaded``. Both count here (a documented deviation).
    """
    if _is_overload_marker(data):
        return True
    if isinstance(data, dict):
        return any(_is_server_overloaded(value) for value in data.values())
    if isinstance(data, list):
        return any(_is_server_overloaded(value) for value in data)
    return False


def _has_retry_limit_text(message: str) -> bool:
    lowered = message.lower()
    return "retry limit" in lowered or "too many failed attempts" in lowered


_BY_CODE: dict[int, type[CodexRpcError]] = {
    -32700: ParseError,
    -32600: InvalidRequestError,
    -32601: MethodNotFoundError,
    -32602: InvalidParamsError,
    -32603: InternalRpcError,
}


def map_jsonrpc_error(code: int, message: str, data: Any = None) -> JsonRpcError:
    """Turn a JSON-RPC error object into the matching exception (not raised, returned).

    The official table, with one deliberate change: the engine's real overload answer, ``-32001`` with no
    data, is a :class:`ServerBusyError` (the official SDK makes it a plain, non-retryable ``CodexRpcError``).
    """
    by_code = _BY_CODE.get(code)
    if by_code is not None:
        return by_code(code, message, data)
    if -32099 <= code <= -32000:
        overloaded = _is_server_overloaded(data) or (
            code == ENGINE_OVERLOADED_CODE and "overloaded" in message.lower()
        )
        if _has_retry_limit_text(message):
            return RetryLimitExceededError(code, message, data)
        if overloaded:
            return ServerBusyError(code, message, data)
        return CodexRpcError(code, message, data)
    return JsonRpcError(code, message, data)


def is_retryable_error(exc: BaseException) -> bool:
    """True for a transient overload: a :class:`ServerBusyError`, or any JSON-RPC error marked overloaded."""
    if isinstance(exc, ServerBusyError):
        return True
    if isinstance(exc, JsonRpcError):
        return _is_server_overloaded(exc.data)
    return False


class OutputValidationError(CodexError):
    """The turn's final response did not match the requested ``output_type``.

    ``raw_text`` is the final response as the model sent it (``None`` if there was none); ``errors`` the
    validation errors (pydantic's ``errors()`` list).
    """

    def __init__(self, message: str, *, raw_text: str | None, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.raw_text = raw_text
        self.errors = errors or []


class UnknownMessageError(CodexError, TypeError):
    """An actor was sent a message it does not handle. Asked, it raises this; told, it logs and drops it."""
