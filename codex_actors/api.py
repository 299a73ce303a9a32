"""The facade classes, at the path the official SDK has them: ``openai_codex.api`` becomes ``codex_actors.api``.

The official ``api`` module defines the sync and async facades and imports the names their signatures use; a
program may import any of them from here. Its low-level clients (``CodexClient``, ``AsyncCodexClient``) and
private helpers are not offered: see ``docs/python-parity-checklist.md``.
"""

from __future__ import annotations

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
from ._modes import ApprovalMode, Sandbox
from ._protocol.generated import (
    GetAccountParams,
    GetAccountResponse,
    LoginAccountParams,
    ModelListResponse,
    Personality,
    ReasoningEffort,
    ReasoningSummary,
    SortDirection,
    ThreadArchiveResponse,
    ThreadCompactStartResponse,
    ThreadForkParams,
    ThreadListCwdFilter,
    ThreadListParams,
    ThreadListResponse,
    ThreadReadResponse,
    ThreadResumeParams,
    ThreadSetNameResponse,
    ThreadSortKey,
    ThreadSource,
    ThreadSourceKind,
    ThreadStartParams,
    ThreadStartSource,
    TurnCompletedNotification,
    TurnInterruptResponse,
    TurnStartParams,
    TurnSteerResponse,
)
from ._protocol.generated import LoginAccountParamsApiKey as ApiKeyLoginAccountParams
from ._results import TurnResult
from ._sync_api import Codex, Thread, TurnHandle
from .models import InitializeResponse, JsonObject, Notification

__all__ = [
    "ApiKeyLoginAccountParams",
    "ApprovalMode",
    "AsyncChatgptLoginHandle",
    "AsyncCodex",
    "AsyncDeviceCodeLoginHandle",
    "AsyncThread",
    "AsyncTurnHandle",
    "ChatgptLoginHandle",
    "Codex",
    "CodexConfig",
    "DeviceCodeLoginHandle",
    "ExternalMessage",
    "GetAccountParams",
    "GetAccountResponse",
    "ImageInput",
    "InitializeResponse",
    "Input",
    "InputItem",
    "JsonObject",
    "LocalImageInput",
    "LoginAccountParams",
    "MentionInput",
    "ModelListResponse",
    "Notification",
    "Personality",
    "ReasoningEffort",
    "ReasoningSummary",
    "RunInput",
    "Sandbox",
    "SkillInput",
    "SortDirection",
    "TextInput",
    "Thread",
    "ThreadArchiveResponse",
    "ThreadCompactStartResponse",
    "ThreadForkParams",
    "ThreadListCwdFilter",
    "ThreadListParams",
    "ThreadListResponse",
    "ThreadReadResponse",
    "ThreadResumeParams",
    "ThreadSetNameResponse",
    "ThreadSortKey",
    "ThreadSource",
    "ThreadSourceKind",
    "ThreadStartParams",
    "ThreadStartSource",
    "TurnCompletedNotification",
    "TurnHandle",
    "TurnInterruptResponse",
    "TurnResult",
    "TurnStartParams",
    "TurnSteerResponse",
]
