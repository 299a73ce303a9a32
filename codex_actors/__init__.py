"""codex-actors: a supervised, actor-based Python SDK for the Codex engine.

The public names mirror the official ``openai-codex`` SDK, so ``import codex_actors as openai_codex`` keeps a
program working; inside, an actor system (pykka) owns the engine process, the threads and the tools.
"""

from __future__ import annotations

import logging as _logging

from ._async_api import AsyncCodex, AsyncThread, AsyncTurnHandle
from ._config import CodexConfig
from ._inputs import (
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
from ._login import AsyncChatgptLoginHandle, AsyncDeviceCodeLoginHandle, ChatgptLoginHandle, DeviceCodeLoginHandle
from ._mcp import McpServer
from ._modes import ApprovalMode, Sandbox
from ._results import TurnResult
from ._sync_api import Codex, Thread, TurnHandle
from ._tool import Tool, ToolContext, ToolImage, ToolResult, tool
from ._version import __version__
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
from .retry import retry_on_overload

# The public submodules with state: importing telemetry installs the event sink of files (attachments).
from . import files as files  # isort: skip
from . import telemetry as telemetry  # isort: skip

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
    "McpServer",
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
    "Tool",
    "ToolContext",
    "ToolImage",
    "ToolResult",
    "TransportClosedError",
    "TurnHandle",
    "TurnResult",
    "__version__",
    "is_retryable_error",
    "retry_on_overload",
    "tool",
]
