"""codex-actors: a supervised, actor-based Python SDK for the Codex engine.

The public names mirror the official ``openai-codex`` SDK, so ``import codex_actors as openai_codex`` keeps a
program working; inside, an actor system (pykka) owns the engine process, the threads and the tools.
"""

from __future__ import annotations

import logging as _logging

from ._version import __version__
from .aio import AsyncCodex, AsyncThread, AsyncTurnHandle
from .api import Codex, Thread, TurnHandle
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
    OutputValidationError,
    ParseError,
    ProtocolError,
    RequestTimeoutError,
    RetryLimitExceededError,
    ServerBusyError,
    TransportClosedError,
    is_retryable_error,
)
from .inputs import (
    ExternalMessage,
    ImageInput,
    Input,
    InputItem,
    LocalImageInput,
    MentionInput,
    RunInput,
    SkillInput,
    TextInput,
)
from .login import AsyncChatgptLoginHandle, AsyncDeviceCodeLoginHandle, ChatgptLoginHandle, DeviceCodeLoginHandle
from .modes import ApprovalMode, Sandbox
from .results import TurnResult
from .retry import retry_on_overload

_logging.getLogger("codex_actors").addHandler(_logging.NullHandler())

__all__ = [
    "ApprovalMode",
    "AsyncChatgptLoginHandle",
    "AsyncCodex",
    "AsyncDeviceCodeLoginHandle",
    "AsyncThread",
    "AsyncTurnHandle",
    "ChatgptLoginHandle",
    "Codex",
    "CodexConfig",
    "CodexError",
    "CodexRpcError",
    "DeviceCodeLoginHandle",
    "EngineCrashed",
    "ExternalMessage",
    "ImageInput",
    "Input",
    "InputItem",
    "InternalRpcError",
    "InvalidParamsError",
    "InvalidRequestError",
    "JsonRpcError",
    "LocalImageInput",
    "MentionInput",
    "MethodNotFoundError",
    "OutputValidationError",
    "ParseError",
    "ProtocolError",
    "RequestTimeoutError",
    "RetryLimitExceededError",
    "RunInput",
    "Sandbox",
    "ServerBusyError",
    "SkillInput",
    "TextInput",
    "Thread",
    "TransportClosedError",
    "TurnHandle",
    "TurnResult",
    "__version__",
    "is_retryable_error",
    "retry_on_overload",
]
