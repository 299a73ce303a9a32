"""The error mapping table (reference §4) and this project's deliberate changes to it."""

from __future__ import annotations

import pickle

import pytest

from codex_actors import errors
from codex_actors.errors import (
    CodexError,
    CodexRpcError,
    EngineCrashed,
    InternalRpcError,
    InvalidParamsError,
    InvalidRequestError,
    JsonRpcError,
    MethodNotFoundError,
    ParseError,
    RequestTimeoutError,
    RetryLimitExceededError,
    ServerBusyError,
    TransportClosedError,
    is_retryable_error,
    map_jsonrpc_error,
)


@pytest.mark.parametrize(
    ("code", "message", "data", "cls"),
    [
        (-32700, "x", None, ParseError),
        (-32600, "x", None, InvalidRequestError),
        (-32601, "x", None, MethodNotFoundError),
        (-32602, "x", None, InvalidParamsError),
        (-32603, "x", None, InternalRpcError),
        (-32000, "busy", {"codex_error_info": "server_overloaded"}, ServerBusyError),
        (-32050, "busy", {"codexErrorInfo": "SERVER_OVERLOADED"}, ServerBusyError),
        (-32099, "busy", {"errorInfo": {"kind": "server_overloaded"}}, ServerBusyError),
        (-32000, "busy", {"nested": [{"deep": "server_overloaded"}]}, ServerBusyError),
        (-32000, "Retry limit hit", {"codex_error_info": "server_overloaded"}, RetryLimitExceededError),
        (-32000, "too many failed attempts", None, RetryLimitExceededError),
        (-32000, "something else", None, CodexRpcError),
        (-32100, "outside", None, JsonRpcError),
        (1, "positive", "server_overloaded", JsonRpcError),
        # Deviations: the engine's real overload answer, and the camelCase marker of its v2 CodexErrorInfo.
        (-32001, "Server overloaded; retry later.", None, ServerBusyError),
        (-32000, "busy", {"codexErrorInfo": "serverOverloaded"}, ServerBusyError),
    ],
)
def test_mapping_table(code: int, message: str, data: object, cls: type[JsonRpcError]) -> None:
    error = map_jsonrpc_error(code, message, data)
    assert type(error) is cls
    assert (error.code, error.message, error.data) == (code, message, data)
    assert str(error) == f"JSON-RPC error {code}: {message}"


def test_retryable() -> None:
    assert is_retryable_error(ServerBusyError(-32000, "x"))
    assert is_retryable_error(RetryLimitExceededError(-32000, "x"))
    assert is_retryable_error(JsonRpcError(-1, "x", {"a": "server_overloaded"}))
    assert is_retryable_error(map_jsonrpc_error(-32001, "Server overloaded; retry later."))
    assert not is_retryable_error(JsonRpcError(-1, "x"))
    assert not is_retryable_error(TransportClosedError("gone"))
    assert not is_retryable_error(RuntimeError("x"))


def test_hierarchy_and_extras() -> None:
    assert issubclass(TransportClosedError, CodexError)
    assert issubclass(EngineCrashed, TransportClosedError)
    assert issubclass(RequestTimeoutError, TimeoutError)
    assert issubclass(RetryLimitExceededError, ServerBusyError)
    error = TransportClosedError("gone", exit_code=3, stderr_tail="tail")
    assert (error.exit_code, error.stderr_tail, str(error)) == (3, "tail", "gone")
    assert TransportClosedError("x").exit_code is None


@pytest.mark.parametrize(
    "error",
    [
        errors.InvalidRequestError(-32600, "bad", {"x": 1}),
        errors.UnknownThreadError(-32600, "no rollout", None, thread_id="t"),
        errors.ServerBusyError(-32001, "Server overloaded; retry later."),
        errors.RequestTimeoutError("turn/start", 1.5),
        errors.TurnTimeoutError("u", 2.0),
        errors.InvalidInputError("input[0].text", "not UTF-8"),
        errors.LineTooLongError("too long", size=5, limit=3),
        errors.OutputValidationError("no match", raw_text="x", errors=[{"loc": ["a"]}]),
        errors.TransportClosedError("gone", exit_code=3, stderr_tail="tail"),
        errors.EngineCrashed("gave up"),
        errors.UnknownMessageError("what"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_error_pickles_as_the_same_class_with_the_same_attributes(error: errors.CodexError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert copy.__dict__ == error.__dict__
