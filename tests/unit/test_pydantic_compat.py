"""The pydantic surface of the generated types (``codex_actors._protocol.compat``), against the official models.

User code written for ``openai_codex`` calls pydantic methods on what the SDK returns and reads ``.value`` off
its enums. Here the same JSON is decoded by both SDKs' types (ours with msgspec, the official pydantic models of
``openai_codex.generated.v2_all``) and the results are compared: ``model_dump`` in every flag combination,
``model_dump_json``, ``model_validate`` both ways, ``model_fields``, ``include``/``exclude``; the open enums
and the enums standing for the official ``RootModel`` over string values.

The data: ``REAL_MESSAGES``, what engine 0.163.0 sent in an offline session (codex_actors Codex + WireTap +
OfflineEngine: thread/start, a turn running ``echo hi``, a turn applying a patch, a steered turn, an interrupted
turn, model/list, thread/read with its turns, thread/compact/start, account/read; temp paths replaced by
``/work``, strings cut at 60 characters, model/list cut to one model); and samples made from the official
models' JSON schema for every thread item kind, every server notification and every client request response.

Documented differences the comparison allows (see the ``compat`` docstring), and nothing else:

* ``SCHEMA_EXTRAS``: our types follow the engine's ``--experimental`` schema, which has fields the official
  models (generated from an older schema) lack (``Thread.environments``, ``ThreadStartResponse.multiAgentMode``
  ...): those keys appear in our dumps only, so the comparison leaves them out of ours;
* ``RENAMED``: the official SDK names ``_meta`` / ``_default`` ``field_meta`` / ``field_default``; we name them
  ``meta`` / ``default`` (Python names only; the wire names are the same);
* ``mode="python"``: our str Enum member where the official has a ``Literal`` string (equal values); our plain
  string where the official has a ``CodexErrorInfoValue`` (``CodexErrorInfo`` is untyped here: ``Any``);
* ``exclude_unset`` is ignored (every field counts as set): the official's result on the engine's messages,
  except the fields the engine leaves out (``configWarning``'s ``path`` and ``range``);
* ``exclude_defaults`` on a field the message left out: the official then holds the raw default string and
  drops it, we keep the Enum member (compared on complete samples only).
"""

from __future__ import annotations

import enum
import itertools
import json
import typing
from collections.abc import Iterator
from typing import Any, cast

import msgspec
import pytest

from codex_actors._protocol import generated as g
from codex_actors._protocol.compat import NonEmptyOpenEnum, OpenEnum, PydanticCompat, RootEnum
from codex_actors._protocol.jsonrpc import decode_message
from codex_actors.models import Notification
from codex_actors.types import ReasoningEffort, ReasoningSummary

off = pytest.importorskip("openai_codex.generated.v2_all")
pydantic = pytest.importorskip("pydantic")

pytestmark = [
    pytest.mark.unit,
    # the official models warn when they dump a raw default string held by an Enum field (a left-out field)
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]

REAL_MESSAGES: list[tuple[str, dict[str, Any]]] = [
    (
        "configWarning",
        {"summary": "Codex could not find bubblewrap on PATH. Install bubblewr...", "details": None},
    ),
    (
        "response thread/start",
        {
            "thread": {
                "id": "01a20e61-9b65-7592-9d77-ffed65936edf",
                "environments": [
                    {
                        "environmentId": "local",
                        "cwd": "/work/workspace",
                        "runtimeWorkspaceRoots": ["/work/workspace"],
                    }
                ],
                "extra": None,
                "sessionId": "01a20e61-9b65-7592-9d77-ffed65936edf",
                "forkedFromId": None,
                "parentThreadId": None,
                "preview": "",
                "ephemeral": False,
                "section": None,
                "sectionEnteredAt": None,
                "projectId": None,
                "historyMode": "paginated",
                "modelProvider": "mock",
                "model": "gpt-5.5",
                "reasoningEffort": None,
                "createdAt": 1795537607,
                "updatedAt": 1795537607,
                "recencyAt": 1795537607,
                "status": {"type": "idle"},
                "path": "/work/codex-home/sessions/2026/11/24/rollout-2026-11-24T1...",
                "cwd": "/work/workspace",
                "cliVersion": "0.163.0",
                "originator": "codex_python_sdk",
                "source": "vscode",
                "canAcceptDirectInput": True,
                "threadSource": None,
                "agentNickname": None,
                "agentRole": None,
                "gitInfo": None,
                "name": None,
                "daybreakEnabled": None,
                "turns": [],
            },
            "model": "gpt-5.5",
            "modelProvider": "mock",
            "serviceTier": None,
            "disabledPluginIds": [],
            "cwd": "/work/workspace",
            "runtimeWorkspaceRoots": ["/work/workspace"],
            "instructionSources": [],
            "approvalPolicy": "on-request",
            "approvalsReviewer": "auto_review",
            "sandbox": {"type": "dangerFullAccess"},
            "activePermissionProfile": None,
            "reasoningEffort": None,
            "multiAgentMode": "explicitRequestOnly",
        },
    ),
    (
        "response turn/start",
        {
            "turn": {
                "id": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
                "rootTurnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
                "items": [],
                "itemsView": "notLoaded",
                "status": "inProgress",
                "error": None,
                "startedAt": None,
                "completedAt": None,
                "durationMs": None,
            }
        },
    ),
    (
        "thread/status/changed",
        {"threadId": "01a20e61-9b65-7592-9d77-ffed65936edf", "status": {"type": "active", "activeFlags": []}},
    ),
    (
        "turn/started",
        {
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turn": {
                "id": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
                "rootTurnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
                "items": [],
                "itemsView": "notLoaded",
                "status": "inProgress",
                "error": None,
                "startedAt": 1795537607,
                "completedAt": None,
                "durationMs": None,
            },
        },
    ),
    (
        "item/completed",
        {
            "item": {
                "type": "userMessage",
                "id": "01a20e61-9b95-78e0-ba9a-d2673698cc5a",
                "clientId": None,
                "content": [{"type": "text", "text": "Run echo hi", "text_elements": []}],
            },
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
            "completedAtMs": 1795537607574,
        },
    ),
    (
        "item/completed",
        {
            "item": {"type": "reasoning", "id": "rs_1", "summary": ["Thinking about it"], "content": []},
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
            "completedAtMs": 1795537607594,
        },
    ),
    (
        "item/started",
        {
            "item": {
                "type": "commandExecution",
                "id": "call_1",
                "pluginId": None,
                "scriptPath": None,
                "command": "/bin/bash -lc 'echo hi'",
                "cwd": "/work/workspace",
                "processId": "6784",
                "source": "unifiedExecStartup",
                "status": "inProgress",
                "commandActions": [{"type": "unknown", "command": "echo hi"}],
                "aggregatedOutput": None,
                "exitCode": None,
                "durationMs": None,
            },
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
            "startedAtMs": 1795537607751,
        },
    ),
    (
        "item/completed",
        {
            "item": {
                "type": "commandExecution",
                "id": "call_1",
                "pluginId": None,
                "scriptPath": None,
                "command": "/bin/bash -lc 'echo hi'",
                "cwd": "/work/workspace",
                "processId": "6784",
                "source": "unifiedExecStartup",
                "status": "completed",
                "commandActions": [{"type": "unknown", "command": "echo hi"}],
                "aggregatedOutput": "hi\n",
                "exitCode": 0,
                "durationMs": 0,
            },
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
            "completedAtMs": 1795537607751,
        },
    ),
    (
        "thread/tokenUsage/updated",
        {
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
            "tokenUsage": {
                "total": {
                    "totalTokens": 150,
                    "inputTokens": 120,
                    "cachedInputTokens": 100,
                    "cacheWriteInputTokens": 0,
                    "outputTokens": 30,
                    "reasoningOutputTokens": 12,
                },
                "last": {
                    "totalTokens": 150,
                    "inputTokens": 120,
                    "cachedInputTokens": 100,
                    "cacheWriteInputTokens": 0,
                    "outputTokens": 30,
                    "reasoningOutputTokens": 12,
                },
                "modelContextWindow": 258400,
            },
        },
    ),
    (
        "account/rateLimits/updated",
        {
            "rateLimits": {
                "limitId": "codex",
                "limitName": None,
                "normalModelSlug": None,
                "primary": None,
                "secondary": None,
                "credits": None,
                "individualLimit": None,
                "spendControlReached": None,
                "planType": None,
                "rateLimitReachedType": None,
            }
        },
    ),
    (
        "item/agentMessage/delta",
        {
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
            "itemId": "msg_1",
            "delta": "Ran ",
        },
    ),
    (
        "item/completed",
        {
            "item": {
                "type": "agentMessage",
                "id": "msg_1",
                "text": "Ran it.",
                "phase": None,
                "memoryCitation": None,
                "delivery": None,
                "questions": None,
            },
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
            "completedAtMs": 1795537607775,
        },
    ),
    (
        "turn/completed",
        {
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turn": {
                "id": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
                "rootTurnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
                "items": [
                    {
                        "type": "agentMessage",
                        "id": "msg_1",
                        "text": "Ran it.",
                        "phase": None,
                        "memoryCitation": None,
                        "delivery": None,
                        "questions": None,
                    }
                ],
                "itemsView": "summary",
                "status": "completed",
                "error": None,
                "startedAt": 1795537607,
                "completedAt": 1795537607,
                "durationMs": 239,
            },
        },
    ),
    (
        "item/completed",
        {
            "item": {
                "type": "fileChange",
                "id": "call_2",
                "changes": [{"path": "/work/workspace/notes.txt", "kind": {"type": "add"}, "diff": "hello\n"}],
                "status": "completed",
            },
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9c6c-7911-984a-76ae2effae4b",
            "completedAtMs": 1795537607815,
        },
    ),
    (
        "turn/diff/updated",
        {
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9c6c-7911-984a-76ae2effae4b",
            "diff": "diff --git a/codex-actors-offline-ds853kbc/workspace/note...",
        },
    ),
    ("response turn/steer", {"turnId": "01a20e61-9ca0-7cd2-a966-dbfe2e73024b"}),
    ("response turn/interrupt", {}),
    (
        "turn/completed",
        {
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turn": {
                "id": "01a20e61-9ccf-7631-918e-b2cebf31ed2a",
                "rootTurnId": "01a20e61-9ccf-7631-918e-b2cebf31ed2a",
                "items": [],
                "itemsView": "notLoaded",
                "status": "interrupted",
                "error": None,
                "startedAt": 1795537607,
                "completedAt": 1795537607,
                "durationMs": 24,
            },
        },
    ),
    (
        "response model/list",
        {
            "data": [
                {
                    "id": "gpt-6.1-sol",
                    "model": "gpt-6.1-sol",
                    "upgrade": None,
                    "upgradeInfo": None,
                    "availabilityNux": {"message": "Maximize usage with GPT-6.1 Sol. Try it on complex work f..."},
                    "displayName": "GPT-6.1-Sol",
                    "description": "Latest workhorse model for coding and everyday work.",
                    "modelSpecialty": None,
                    "hidden": False,
                    "supportedReasoningEfforts": [
                        {"reasoningEffort": "low", "description": "Fast responses with lighter reasoning"},
                        {
                            "reasoningEffort": "medium",
                            "description": "Balances speed and reasoning depth for everyday tasks",
                        },
                        {"reasoningEffort": "high", "description": "Greater reasoning depth for complex problems"},
                        {
                            "reasoningEffort": "xhigh",
                            "description": "Extra high reasoning depth for complex problems",
                        },
                        {
                            "reasoningEffort": "max",
                            "description": "Maximum reasoning depth for the hardest problems",
                        },
                        {
                            "reasoningEffort": "ultra",
                            "description": "Maximum reasoning with automatic task delegation",
                        },
                    ],
                    "defaultReasoningEffort": "low",
                    "inputModalities": ["text", "image"],
                    "supportsPersonality": False,
                    "multiAgentVersion": "v2",
                    "additionalSpeedTiers": ["fast"],
                    "serviceTiers": [
                        {"id": "priority", "name": "Fast", "description": "2x speed, increased usage"}
                    ],
                    "defaultServiceTier": None,
                    "availableAccessPrograms": None,
                    "isDefault": True,
                }
            ],
            "nextCursor": None,
        },
    ),
    (
        "deprecationNotice",
        {"summary": "Full-history hydration is deprecated for paginated thread...", "details": None},
    ),
    (
        "response thread/read",
        {
            "thread": {
                "id": "01a20e61-9b65-7592-9d77-ffed65936edf",
                "environments": [
                    {
                        "environmentId": "local",
                        "cwd": "/work/workspace",
                        "runtimeWorkspaceRoots": ["/work/workspace"],
                    }
                ],
                "extra": None,
                "sessionId": "01a20e61-9b65-7592-9d77-ffed65936edf",
                "forkedFromId": None,
                "parentThreadId": None,
                "preview": "Run echo hi",
                "ephemeral": False,
                "section": None,
                "sectionEnteredAt": None,
                "projectId": None,
                "historyMode": "paginated",
                "modelProvider": "mock",
                "model": "gpt-5.5",
                "reasoningEffort": None,
                "createdAt": 1795537607,
                "updatedAt": 1795537607,
                "recencyAt": 1795537607,
                "status": {"type": "idle"},
                "path": "/work/codex-home/sessions/2026/11/24/rollout-2026-11-24T1...",
                "cwd": "/work/workspace",
                "cliVersion": "0.163.0",
                "originator": "codex_python_sdk",
                "source": "vscode",
                "canAcceptDirectInput": True,
                "threadSource": None,
                "agentNickname": None,
                "agentRole": None,
                "gitInfo": None,
                "name": None,
                "daybreakEnabled": None,
                "turns": [
                    {
                        "id": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
                        "rootTurnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a",
                        "items": [
                            {
                                "type": "userMessage",
                                "id": "01a20e61-9b95-78e0-ba9a-d2673698cc5a",
                                "clientId": None,
                                "content": [{"type": "text", "text": "Run echo hi", "text_elements": []}],
                            },
                            {"type": "reasoning", "id": "rs_1", "summary": ["Thinking about it"], "content": []},
                            {
                                "type": "commandExecution",
                                "id": "call_1",
                                "pluginId": None,
                                "scriptPath": None,
                                "command": "/bin/bash -lc 'echo hi'",
                                "cwd": "/work/workspace",
                                "processId": "6784",
                                "source": "unifiedExecStartup",
                                "status": "completed",
                                "commandActions": [{"type": "unknown", "command": "echo hi"}],
                                "aggregatedOutput": "hi\n",
                                "exitCode": 0,
                                "durationMs": 0,
                            },
                            {
                                "type": "agentMessage",
                                "id": "msg_1",
                                "text": "Ran it.",
                                "phase": None,
                                "memoryCitation": None,
                                "delivery": None,
                                "questions": None,
                            },
                        ],
                        "itemsView": "full",
                        "status": "completed",
                        "error": None,
                        "startedAt": 1795537607,
                        "completedAt": 1795537607,
                        "durationMs": 239,
                    },
                    {
                        "id": "01a20e61-9c6c-7911-984a-76ae2effae4b",
                        "rootTurnId": "01a20e61-9c6c-7911-984a-76ae2effae4b",
                        "items": [
                            {
                                "type": "userMessage",
                                "id": "01a20e61-9c73-7f41-b420-f296bee166e7",
                                "clientId": None,
                                "content": [{"type": "text", "text": "Add notes.txt", "text_elements": []}],
                            },
                            {
                                "type": "fileChange",
                                "id": "call_2",
                                "changes": [
                                    {
                                        "path": "/work/workspace/notes.txt",
                                        "kind": {"type": "add"},
                                        "diff": "hello\n",
                                    }
                                ],
                                "status": "completed",
                            },
                            {
                                "type": "agentMessage",
                                "id": "msg_2",
                                "text": "Patched.",
                                "phase": None,
                                "memoryCitation": None,
                                "delivery": None,
                                "questions": None,
                            },
                        ],
                        "itemsView": "full",
                        "status": "completed",
                        "error": None,
                        "startedAt": 1795537607,
                        "completedAt": 1795537607,
                        "durationMs": 47,
                    },
                    {
                        "id": "01a20e61-9ccf-7631-918e-b2cebf31ed2a",
                        "rootTurnId": "01a20e61-9ccf-7631-918e-b2cebf31ed2a",
                        "items": [
                            {
                                "type": "userMessage",
                                "id": "01a20e61-9cd6-7201-803e-e2eea8d1771a",
                                "clientId": None,
                                "content": [{"type": "text", "text": "Wait", "text_elements": []}],
                            }
                        ],
                        "itemsView": "full",
                        "status": "interrupted",
                        "error": None,
                        "startedAt": 1795537607,
                        "completedAt": 1795537607,
                        "durationMs": 24,
                    },
                ],
            },
            "readState": {
                "firstUnread": {"type": "turn", "turnId": "01a20e61-9b75-77e0-8db4-efe0b30a6f4a"},
                "revision": "e201b1b4-4735-401b-ab51-cf2e07f19b19",
            },
        },
    ),
    ("response thread/compact/start", {}),
    (
        "item/completed",
        {
            "item": {"type": "contextCompaction", "id": "01a20e61-9cf5-7ff1-8663-0b3089174e04"},
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turnId": "01a20e61-9cf1-78c0-b974-22eba0590973",
            "completedAtMs": 1795537607943,
        },
    ),
    (
        "warning",
        {
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "message": "Heads up: Long threads and multiple compactions can cause...",
        },
    ),
    (
        "turn/completed",
        {
            "threadId": "01a20e61-9b65-7592-9d77-ffed65936edf",
            "turn": {
                "id": "01a20e61-9cf1-78c0-b974-22eba0590973",
                "rootTurnId": "01a20e61-9cf1-78c0-b974-22eba0590973",
                "items": [],
                "itemsView": "notLoaded",
                "status": "completed",
                "error": None,
                "startedAt": 1795537607,
                "completedAt": 1795537607,
                "durationMs": 23,
            },
        },
    ),
    ("response account/read", {"account": None, "requiresOpenaiAuth": False, "workspaceRouting": None}),
]


# ------------------------------------------------------------------------------------------------------------
# Comparing dumps
# ------------------------------------------------------------------------------------------------------------

FLAGS = [
    {"mode": mode, "by_alias": by_alias, "exclude_none": exclude_none, "exclude_defaults": exclude_defaults}
    for mode, by_alias, exclude_none, exclude_defaults in itertools.product(
        ("python", "json"), (False, True), (False, True), (False, True)
    )
]
RENAMED = {"field_meta": "meta", "field_default": "default"}
UNTYPED_HERE = ("codex_error_info", "codexErrorInfo")  # CodexErrorInfo is Any here: its strings stay strings
# Messages holding an untyped definition (Any here: raw JSON, wire names, no Enum members), compared as JSON
RAW_JSON_HERE = {"McpResourceReadResponse"}  # ResourceContent


class Member:
    """An Enum member in a dump, by value (the two SDKs' Enum classes differ)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<member {self.value!r}>"


def marked(value: Any, renames: dict[str, str] | None = None) -> Any:
    if isinstance(value, enum.Enum):
        return Member(value.value)
    if isinstance(value, dict):
        renames = renames or {}
        return {renames.get(key, key): marked(item, renames) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [marked(item, renames) for item in value]
    return value


def differences(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """How our dump differs from the official one: values, types, keys and key order."""
    if isinstance(theirs, Member):
        if isinstance(ours, Member) and ours.value == theirs.value:
            return []
        if path.rsplit(".", 1)[-1] in UNTYPED_HERE and ours == theirs.value:
            return []
        return [f"{path}: {ours!r}, official {theirs!r}"]
    if isinstance(ours, Member):  # our str Enum, the official Literal string (RootModel[Literal[...]])
        return (
            [] if isinstance(theirs, str) and ours.value == theirs else [f"{path}: {ours!r}, official {theirs!r}"]
        )
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if list(ours) != list(theirs):
            return [f"{path}: keys {list(ours)}, official {list(theirs)}"]
        return [found for key in ours for found in differences(ours[key], theirs[key], f"{path}.{key}")]
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [
            found
            for i, pair in enumerate(zip(ours, theirs, strict=True))
            for found in differences(*pair, f"{path}[{i}]")
        ]
    if type(ours) is type(theirs) and ours == theirs:
        return []
    return [f"{path}: {ours!r} ({type(ours).__name__}), official {theirs!r} ({type(theirs).__name__})"]


def renamed(value: Any) -> Any:
    """An official Python-name dump with our names for the ``RENAMED`` fields."""
    if isinstance(value, dict):
        return {RENAMED.get(key, key): renamed(item) for key, item in value.items()}
    return [renamed(item) for item in value] if isinstance(value, list) else value


def official_class(struct: type[Any]) -> Any:
    found = getattr(off, struct.__name__, None)
    return found if isinstance(found, type) and issubclass(found, pydantic.BaseModel) else None


def wires(model: Any) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def schema_extras(obj: Any, model: Any = None) -> Any:
    """An ``exclude`` for our fields that the official model lacks (``SCHEMA_EXTRAS``).

    ``model`` is the official model of ``obj``; by default, and for what ``obj`` holds, our class's namesake.
    """
    if isinstance(obj, PydanticCompat):
        theirs = model or official_class(type(obj))
        spec: dict[Any, Any] = {}
        for field in msgspec.structs.fields(cast(type[msgspec.Struct], type(obj))):
            if theirs is not None and field.encode_name not in wires(theirs):
                spec[field.name] = True
            elif (nested := schema_extras(getattr(obj, field.name))) is not None:
                spec[field.name] = nested
        return spec or None
    if isinstance(obj, list | dict):
        items = enumerate(obj) if isinstance(obj, list) else obj.items()
        spec = {key: nested for key, item in items if (nested := schema_extras(item)) is not None}
        return spec or None
    return None


def merge(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return b if a is None else a
    if a is True or b is True:
        return True
    return {key: merge(a.get(key), b.get(key)) for key in {**a, **b}}


def assert_dumps_match(ours: Any, theirs: Any, flags: list[dict[str, Any]], **extra: Any) -> None:
    """Our dumps are the official's, flag combination by flag combination (``extra``: more arguments)."""
    extras = schema_extras(ours, type(theirs))
    for options in flags:
        exclude = merge(extras, extra.get("exclude"))
        mine = ours.model_dump(**options, **{**extra, "exclude": exclude})
        official = theirs.model_dump(**options, **extra)
        found = differences(marked(mine), marked(official, None if options["by_alias"] else RENAMED))
        assert not found, f"{type(ours).__name__} {options}: " + "; ".join(found[:5])


def decode_both(wire_type: Any, data: Any, model: Any = None) -> tuple[Any, Any]:
    """Ours and the official for ``data``: ``model`` is the official type (by default, our class's namesake)."""
    raw = json.dumps(data).encode()
    ours = msgspec.json.decode(raw, type=wire_type)
    theirs = (model or official_class(type(ours))).model_validate_json(raw)
    return ours, theirs.root if isinstance(theirs, pydantic.RootModel) else theirs


def real_type(label: str) -> Any:
    if label.startswith("response "):
        return g.CLIENT_REQUESTS[label.removeprefix("response ")][1]
    return g.SERVER_NOTIFICATIONS[label]


REAL_IDS = [f"{index:02d}-{label}" for index, (label, _) in enumerate(REAL_MESSAGES)]


# ------------------------------------------------------------------------------------------------------------
# Samples from the official models' JSON schema
# ------------------------------------------------------------------------------------------------------------


class TooDeep(Exception):
    pass


def sample(schema: Any, defs: dict[str, Any], *, full: bool, depth: int = 0) -> Any:
    """A JSON value of ``schema``: every property (``full``) or only the required ones, the first alternative."""
    if depth > 10:
        raise TooDeep
    if schema is True or schema == {}:
        return {"free": [1, None, "form"]} if full else "free"
    if "$ref" in schema:
        return sample(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, full=full, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][-1] if full else schema["enum"][0]
    options = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if options:
        real = [option for option in options if option.get("type") != "null"]
        if not full and len(real) < len(options):
            return None
        for option in real:
            try:
                return sample(option, defs, full=full, depth=depth + 1)
            except TooDeep:
                continue
        raise TooDeep
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object" or "properties" in schema:
        out = {}
        for name, prop in schema.get("properties", {}).items():
            if full or name in schema.get("required", ()):
                try:
                    out[name] = sample(prop, defs, full=full, depth=depth + 1)
                except TooDeep:
                    if name in schema.get("required", ()):
                        raise
        if not schema.get("properties") and full and isinstance(schema.get("additionalProperties"), dict):
            out["key"] = sample(schema["additionalProperties"], defs, full=full, depth=depth + 1)
        return out
    if kind == "array":
        try:
            return [sample(schema.get("items", True), defs, full=full, depth=depth + 1)] if full else []
        except TooDeep:
            return []
    return {"string": "s" * max(1, schema.get("minLength", 1)), "integer": 3, "number": 2.5, "boolean": True}.get(
        str(kind)
    )


def schema_samples(model: Any) -> Iterator[tuple[str, Any, bool]]:
    """(label, JSON, complete) for ``model``; for a RootModel union, for each of its members."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    members = schema.get("anyOf") or schema.get("oneOf") or [schema]
    for index, member in enumerate(members):
        for full in (True, False):
            try:
                yield (
                    f"{model.__name__}[{index}] {'full' if full else 'required only'}",
                    sample(member, defs, full=full),
                    full,
                )
            except TooDeep:
                continue


def sampled(wire_type: Any, model: Any) -> Iterator[Any]:
    for label, data, full in schema_samples(model):
        try:
            ours, theirs = decode_both(wire_type, data, model)
        except (msgspec.ValidationError, pydantic.ValidationError):
            continue  # the sample breaks a constraint of one side (counted by the callers)
        if isinstance(ours, PydanticCompat):  # not a plain string member of a union
            yield pytest.param(ours, theirs, full, id=label)


# ------------------------------------------------------------------------------------------------------------
# model_dump against the official models
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "data"), REAL_MESSAGES, ids=REAL_IDS)
def test_real_messages_dump_like_the_official_models(label: str, data: dict[str, Any]) -> None:
    ours, theirs = decode_both(real_type(label), data)
    assert_dumps_match(ours, theirs, FLAGS)


@pytest.mark.parametrize(("label", "data"), REAL_MESSAGES, ids=REAL_IDS)
def test_real_messages_dump_json_like_the_official_models(label: str, data: dict[str, Any]) -> None:
    ours, theirs = decode_both(real_type(label), data)
    exclude = schema_extras(ours)
    for options in ({}, {"by_alias": True}, {"by_alias": True, "exclude_none": True, "indent": 2}):
        assert ours.model_dump_json(**options, exclude=exclude) == theirs.model_dump_json(**options)


@pytest.mark.parametrize(("label", "data"), REAL_MESSAGES, ids=REAL_IDS)
def test_exclude_unset_is_ignored_which_is_the_official_result_on_engine_messages(
    label: str, data: dict[str, Any]
) -> None:
    ours, theirs = decode_both(real_type(label), data)
    exclude = schema_extras(ours)
    for by_alias in (False, True):
        mine = ours.model_dump(mode="json", by_alias=by_alias, exclude_unset=True, exclude=exclude)
        assert mine == ours.model_dump(mode="json", by_alias=by_alias, exclude=exclude)
        official = theirs.model_dump(mode="json", by_alias=by_alias, exclude_unset=True)
        if label == "configWarning":  # the engine leaves path and range out when they are null
            assert {key: value for key, value in mine.items() if key not in official} == {
                "path": None,
                "range": None,
            }
            continue
        assert mine == official


def test_the_real_messages_cover_the_brief() -> None:
    labels = [label for label, _ in REAL_MESSAGES]
    for needed in (
        "response thread/start",
        "response turn/start",
        "response turn/steer",
        "response turn/interrupt",
        "response thread/compact/start",
        "response model/list",
        "response thread/read",
        "thread/tokenUsage/updated",
        "turn/completed",
        "item/completed",
    ):
        assert needed in labels
    kinds = {data["item"]["type"] for label, data in REAL_MESSAGES if label == "item/completed"}
    assert kinds == {
        "userMessage",
        "reasoning",
        "commandExecution",
        "agentMessage",
        "fileChange",
        "contextCompaction",
    }
    (read,) = [data for label, data in REAL_MESSAGES if label == "response thread/read"]
    assert sum(len(turn["items"]) for turn in read["thread"]["turns"]) >= 8


THREAD_ITEMS = list(sampled(g.ThreadItem, off.ThreadItem))


def test_thread_item_samples_cover_every_kind() -> None:
    kinds = {param.values[0].type for param in THREAD_ITEMS}
    assert kinds == {variant.__struct_config__.tag for variant in typing.get_args(g.ThreadItem)}
    assert len(THREAD_ITEMS) == 2 * len(kinds)


@pytest.mark.parametrize(("ours", "theirs", "complete"), THREAD_ITEMS)
def test_every_thread_item_kind_dumps_like_the_official_models(ours: Any, theirs: Any, complete: bool) -> None:
    # a field the sample leaves out holds the official raw default: exclude_defaults compared on complete ones
    flags = FLAGS if complete else [options for options in FLAGS if not options["exclude_defaults"]]
    assert_dumps_match(ours, theirs, flags)


def message_types() -> Iterator[Any]:
    seen = set()
    for wire_type in [*g.SERVER_NOTIFICATIONS.values(), *(response for _, response in g.CLIENT_REQUESTS.values())]:
        if isinstance(wire_type, type) and official_class(wire_type) is not None and wire_type not in seen:
            seen.add(wire_type)
            yield wire_type


MESSAGES = [param for wire_type in message_types() for param in sampled(wire_type, official_class(wire_type))]


def test_message_samples_cover_every_notification_and_response() -> None:
    covered = {type(param.values[0]) for param in MESSAGES}
    assert covered == set(message_types())


@pytest.mark.parametrize(("ours", "theirs", "complete"), MESSAGES)
def test_every_notification_and_response_dumps_like_the_official_models(
    ours: Any, theirs: Any, complete: bool
) -> None:
    flags = FLAGS if complete else [options for options in FLAGS if not options["exclude_defaults"]]
    if type(ours).__name__ in RAW_JSON_HERE:
        flags = [options for options in flags if options["mode"] == "json" and options["by_alias"]]
    assert_dumps_match(ours, theirs, flags)
    # and back: what the official model dumps (Python names, its Enum members) validates into the same object
    exclude = schema_extras(ours)
    dumps = [theirs.model_dump(mode="json", by_alias=True)]
    if type(ours).__name__ not in RAW_JSON_HERE:  # raw JSON keeps whatever names it is given
        dumps.append(renamed(theirs.model_dump()))
    for dumped in dumps:
        assert type(ours).model_validate(dumped).model_dump(exclude=exclude) == ours.model_dump(exclude=exclude)


# Where the official SDK has one model per alternative, or fields in another order than the sorted one
SPLIT_OR_REORDERED = [
    param
    for union in ("UserInput", "ContentItem", "FunctionCallOutputContentItem", "SessionSource", "SubAgentSource")
    for param in sampled(getattr(g, union), getattr(off, union))
] + [
    pytest.param(*decode_both(getattr(g, union), data, getattr(off, union)), True, id=f"{union} {data}")
    for union, data in [
        ("UserInput", {"type": "image", "url": "https://x/y.png", "detail": "high"}),
        ("UserInput", {"type": "image", "fileId": "file-1"}),
        ("ContentItem", {"type": "input_image", "file_id": "file-1"}),
        ("FunctionCallOutputContentItem", {"type": "input_image", "image_url": "https://x/y.png"}),
        ("SessionSource", {"custom": "my-tool"}),
    ]
]
for union in ("ThreadRealtimeItem", "HookMetadata"):  # every member: their shared properties come first
    SPLIT_OR_REORDERED += sampled(getattr(g, union), getattr(off, union))


def test_split_or_reordered_models_are_sampled() -> None:
    names = {type(param.values[0]).__name__ for param in SPLIT_OR_REORDERED}
    assert {"ImageUserInput", "InputImageContentItem", "SessionSourceObject", "SubAgentSourceObject"} <= names
    assert {"RealtimeSessionClosedThreadRealtimeItem", "HookMetadataCommand", "HookMetadataAgent"} <= names


@pytest.mark.parametrize(("ours", "theirs", "complete"), SPLIT_OR_REORDERED)
def test_split_or_reordered_models_dump_like_the_official_models(ours: Any, theirs: Any, complete: bool) -> None:
    flags = FLAGS if complete else [options for options in FLAGS if not options["exclude_defaults"]]
    assert_dumps_match(ours, theirs, flags)


def thread_read() -> tuple[Any, Any]:
    (data,) = [data for label, data in REAL_MESSAGES if label == "response thread/read"]
    return decode_both(g.ThreadReadResponse, data)


@pytest.mark.parametrize(
    ("include", "exclude"),
    [
        ({"thread": {"id", "status", "turns"}}, None),
        ({"thread": {"turns": {0: {"items": {"__all__": {"type", "id"}}}, -1: {"id", "status"}}}}, None),
        ({"thread": {"turns": {"__all__": {"items": {1}}}}}, None),
        (None, {"thread": {"turns": True, "git_info": True}}),
        (None, {"thread": {"turns": {"__all__": {"items"}, 0: True}}}),
        (
            {"thread": {"turns": {1: {"items": {"__all__": {"changes", "type", "status"}}}}}},
            {"thread": {"turns": {1: {"items": {0}}}}},
        ),
    ],
)
def test_include_and_exclude_like_the_official_models(include: Any, exclude: Any) -> None:
    ours, theirs = thread_read()
    flags = [options for options in FLAGS if not options["exclude_defaults"]]
    assert_dumps_match(ours, theirs, flags, include=include, exclude=exclude)


def test_python_mode_keeps_members_and_json_mode_gives_values() -> None:
    ours, _ = thread_read()
    python = ours.model_dump()
    assert python["thread"]["status"] == {"type": "idle"}
    assert isinstance(ours.thread.turns[0].status, enum.Enum)
    assert python["thread"]["turns"][0]["status"] is g.TurnStatus.completed
    assert ours.model_dump(mode="json")["thread"]["turns"][0]["status"] == "completed"
    item = ours.thread.turns[0].items[0]
    assert item.model_dump(include={"type"}) == {"type": "userMessage"}  # the tag is a field, as in the official


# ------------------------------------------------------------------------------------------------------------
# model_validate, model_copy, model_fields
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "data"), REAL_MESSAGES, ids=REAL_IDS)
def test_model_validate_takes_wire_names_python_names_and_instances(label: str, data: dict[str, Any]) -> None:
    ours, theirs = decode_both(real_type(label), data)
    cls = type(ours)
    assert cls.model_validate(data) == ours
    assert cls.model_validate(ours) is ours
    assert cls.model_validate(ours.model_dump()) == ours  # Python names, Enum members, nested
    assert cls.model_validate(ours.model_dump(mode="json", by_alias=True)) == ours
    assert cls.model_validate_json(json.dumps(data)) == ours
    assert cls.model_validate_json(ours.model_dump_json()) == ours
    # what the official model dumps (its own Enum members, Python names) gives the same object, save the fields
    # the official model does not have
    exclude = schema_extras(ours)
    for dumped in (theirs.model_dump(), theirs.model_dump(mode="json", by_alias=True)):
        again = cls.model_validate(dumped)
        assert again.model_dump(exclude=exclude) == ours.model_dump(exclude=exclude)


def test_model_validate_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="turnId"):
        g.TurnSteerResponse.model_validate({})
    with pytest.raises(ValueError):
        g.TurnSteerResponse.model_validate_json(b"[1]")
    assert g.TurnSteerResponse.model_validate({"turn_id": "t"}) == g.TurnSteerResponse(turn_id="t")
    # lax by default, strict on demand, as pydantic
    usage = {
        "cachedInputTokens": 0,
        "inputTokens": "12",
        "outputTokens": 3,
        "reasoningOutputTokens": 0,
        "totalTokens": 15,
    }
    assert g.TokenUsageBreakdown.model_validate(usage).input_tokens == 12
    assert off.TokenUsageBreakdown.model_validate(usage).input_tokens == 12
    with pytest.raises(ValueError):
        g.TokenUsageBreakdown.model_validate(usage, strict=True)
    with pytest.raises(ValueError):
        off.TokenUsageBreakdown.model_validate(usage, strict=True)


def test_model_validate_picks_union_members_by_tag_under_either_name() -> None:
    item = {"type": "agentMessage", "id": "m", "text": "hi", "memory_citation": None}
    assert g.ItemCompletedNotification.model_validate(
        {"item": item, "thread_id": "t", "turn_id": "u", "completed_at_ms": 1}
    ).item == g.AgentMessageThreadItem(id="m", text="hi")
    hook = g.HookMetadataPrompt.model_fields
    assert "handler_type" in hook and hook["handler_type"].alias == "handlerType"


def test_model_copy() -> None:
    ours, _ = thread_read()
    copied = ours.model_copy()
    assert copied == ours and copied is not ours
    renamed = ours.model_copy(update={"thread": ours.thread.model_copy(update={"name": "renamed"})})
    assert renamed.thread.name == "renamed" and ours.thread.name is None
    deep = ours.model_copy(deep=True)
    assert deep == ours and deep.thread.turns is not ours.thread.turns
    with pytest.raises(TypeError):
        ours.model_copy(update={"no_such_field": 1})


def test_model_construct() -> None:
    built = g.AgentMessageThreadItem.model_construct(id="m", text="hi", type="agentMessage", memoryCitation=None)
    assert built == g.AgentMessageThreadItem(id="m", text="hi")


def shared_models() -> Iterator[tuple[Any, Any]]:
    for name, theirs in vars(off).items():
        ours = getattr(g, name, None)
        if (
            isinstance(theirs, type)
            and issubclass(theirs, pydantic.BaseModel)
            and not issubclass(theirs, pydantic.RootModel)
            and isinstance(ours, type)
            and issubclass(ours, PydanticCompat)
        ):
            yield ours, theirs


def test_model_fields_are_the_official_ones_in_the_official_order() -> None:
    pairs = list(shared_models())
    assert len(pairs) > 600
    for ours, theirs in pairs:
        fields = ours.model_fields
        assert fields is ours.model_fields  # built once, at the first use
        official = {info.alias or name: name for name, info in theirs.model_fields.items()}
        mine = {info.alias or name: name for name, info in fields.items()}
        if ours.__name__ in ("ImageUserInput", "InputImageContentItem", "InputImageFunctionCallOutputContentItem"):
            official |= {"fileId" if ours is g.ImageUserInput else "file_id": "file_id"}  # one official model each
        assert set(official) <= set(mine), ours  # ours may have more (SCHEMA_EXTRAS)
        assert [wire for wire in mine if wire in official] == list(official), ours  # the same order
        assert {wire: RENAMED.get(name, name) for wire, name in official.items()} == {
            wire: name for wire, name in mine.items() if wire in official
        }, ours


# ------------------------------------------------------------------------------------------------------------
# Open enums (the official enums with a _missing_)
# ------------------------------------------------------------------------------------------------------------

OFFICIAL_OPEN = {
    name: cls
    for name, cls in vars(off).items()
    if isinstance(cls, type) and issubclass(cls, enum.Enum) and "_missing_" in vars(cls) and len(cls)
}


def member_or_none(cls: Any, value: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        return None


def test_open_enums_are_the_officials() -> None:
    assert set(OFFICIAL_OPEN) == {"CodexErrorInfoValue", "PlanType", "ReasoningEffort", "ThreadSource"}
    # CodexErrorInfo is an untyped union here (Any): its strings decode as plain strings, no enum is generated
    assert not hasattr(g, "CodexErrorInfoValue") and "CodexErrorInfo" in g.UNTYPED_DEFINITIONS
    for name, theirs in OFFICIAL_OPEN.items():
        if name == "CodexErrorInfoValue":
            continue
        ours = getattr(g, name)
        assert issubclass(ours, OpenEnum) and issubclass(ours, str)
        assert [(m.name, m.value) for m in ours] == [(m.name, m.value) for m in theirs]
        for value in ("customValue", "", "high"):
            mine, official = member_or_none(ours, value), member_or_none(theirs, value)
            assert (mine is None) == (official is None), (name, value)
            if mine is not None:
                assert (mine.name, mine.value, str(mine)) == (
                    official.name,
                    official.value,
                    str(official).replace(theirs.__qualname__, name),
                )
                assert mine == value == official


def test_reasoning_effort_is_open() -> None:
    assert ReasoningEffort.high.value == "high" and ReasoningEffort("high") is ReasoningEffort.high
    custom = ReasoningEffort("custom")
    assert custom.value == "custom" and custom == "custom" and isinstance(custom, ReasoningEffort)
    assert issubclass(ReasoningEffort, NonEmptyOpenEnum)
    with pytest.raises(ValueError):
        ReasoningEffort("")
    assert msgspec.json.encode(custom) == b'"custom"'


def test_open_enum_fields_decode_unknown_values_without_failing_the_message() -> None:
    model = {
        "id": "m",
        "model": "m",
        "displayName": "M",
        "description": "d",
        "hidden": False,
        "isDefault": True,
        "defaultReasoningEffort": "turbo",
        "inputModalities": ["text", "image"],
        "supportedReasoningEfforts": [
            {"description": "d", "reasoningEffort": "ultra"},
            {"description": "d", "reasoningEffort": "hyper"},
        ],
    }
    listed, theirs = decode_both(g.ModelListResponse, {"data": [model], "nextCursor": None})
    efforts = [option.reasoning_effort for option in listed.data[0].supported_reasoning_efforts]
    assert efforts == [ReasoningEffort.ultra, "hyper"] and [e.value for e in efforts] == ["ultra", "hyper"]
    assert listed.data[0].default_reasoning_effort.value == "turbo"
    assert_dumps_match(listed, theirs, FLAGS)
    # the reader's decoders are unchanged: an unknown value in a notification still gives the typed payload
    (data,) = [data for label, data in REAL_MESSAGES if label == "response thread/start"]
    thread = {**data["thread"], "threadSource": "newSource"}
    line = json.dumps({"method": "thread/started", "params": {"thread": thread}}).encode()
    note = decode_message(line)
    assert isinstance(note, Notification) and isinstance(note.payload, g.ThreadStartedNotification)
    assert note.payload.thread.thread_source is not None
    assert note.payload.thread.thread_source.value == "newSource"
    assert note.payload.thread.thread_source == g.ThreadSource("newSource")


# ------------------------------------------------------------------------------------------------------------
# The official RootModels over string values
# ------------------------------------------------------------------------------------------------------------


def root_values(model: Any) -> list[str] | None:
    """The strings a ``RootModel`` takes, if it is one over string values only (enums and Literals)."""
    values: list[str] = []
    annotation = model.model_fields["root"].annotation
    for member in (
        (annotation,) if typing.get_origin(annotation) is typing.Literal else typing.get_args(annotation)
    ):
        if isinstance(member, type) and issubclass(member, enum.Enum):
            values += [item.value for item in member]
        elif typing.get_origin(member) is typing.Literal:
            values += list(typing.get_args(member))
        else:
            return None
    return values or None


OFFICIAL_ROOTS: dict[str, tuple[Any, list[Any]]] = {
    name: (cls, values)
    for name, cls in vars(off).items()
    if isinstance(cls, type)
    and issubclass(cls, pydantic.RootModel)
    and cls.__module__ == off.__name__
    and "[" not in name
    and (values := root_values(cls)) is not None
}


def test_root_models_over_values_are_root_enums() -> None:
    assert "ReasoningSummary" in OFFICIAL_ROOTS and len(OFFICIAL_ROOTS) >= 9
    for name, (theirs, values) in OFFICIAL_ROOTS.items():
        ours = getattr(g, name)
        assert issubclass(ours, RootEnum), name
        assert sorted(member.value for member in ours) == sorted(values)
        for value in values:
            official = theirs.model_validate(value)
            mine = ours.model_validate(value)
            root = official.root
            # the cleanest equivalent: the member itself, equal to the official root's value
            assert mine == (root.value if isinstance(root, enum.Enum) else root) == value
            assert mine.root is mine and mine.value == value and isinstance(mine, ours)
            assert ours.model_validate(official) is mine  # an official RootModel is taken too
            assert ours.model_validate(mine) is mine and ours.model_validate_json(json.dumps(value)) is mine
            assert mine.model_dump(mode="json") == official.model_dump(mode="json") == value
            assert marked(mine.model_dump()).value == value
            assert mine.model_dump_json() == official.model_dump_json()
        with pytest.raises(ValueError):
            theirs.model_validate("not-a-value")
        with pytest.raises(ValueError):
            ours.model_validate("not-a-value")


def test_reasoning_summary_model_validate() -> None:
    summary = ReasoningSummary.model_validate("concise")
    assert summary is ReasoningSummary.concise and summary == "concise" and summary.root.value == "concise"
    assert off.ReasoningSummary.model_validate("concise").root.value == summary.value
    assert ReasoningSummary.model_validate("none") == off.ReasoningSummary.model_validate("none").root == "none"
    params = g.TurnStartParams(thread_id="t", input=[], summary=summary)
    assert msgspec.json.decode(msgspec.json.encode(params))["summary"] == "concise"
