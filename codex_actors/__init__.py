"""codex-actors: a supervised, actor-based Python SDK for the Codex engine.

The public names mirror the official ``openai-codex`` SDK, so ``import codex_actors as openai_codex`` keeps a
program working; inside, an actor system (pykka) owns the engine process, the threads and the tools.
"""

from __future__ import annotations

from ._version import __version__
from .config import CodexConfig
from .errors import (
    CodexError,
    CodexRpcError,
    EngineCrashed,
    InternalRpcError,
    InvalidParamsError,
    InvalidRequestError,
    JsonRpcError,
    MethodNotFoundError,
    ParseError,
    ProtocolError,
    RequestTimeoutError,
    RetryLimitExceededError,
    ServerBusyError,
    TransportClosedError,
    is_retryable_error,
)

__all__ = [
    "CodexConfig",
    "CodexError",
    "CodexRpcError",
    "EngineCrashed",
    "InternalRpcError",
    "InvalidParamsError",
    "InvalidRequestError",
    "JsonRpcError",
    "MethodNotFoundError",
    "ParseError",
    "ProtocolError",
    "RequestTimeoutError",
    "RetryLimitExceededError",
    "ServerBusyError",
    "TransportClosedError",
    "__version__",
    "is_retryable_error",
]
