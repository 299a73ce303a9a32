"""Notification wrappers and JSON aliases, as in ``openai_codex.models``.

A :class:`Notification` pairs a method with its typed payload: the generated msgspec Struct for a known method
(``codex_actors._protocol.generated``), or an :class:`UnknownNotification` carrying the raw params when the method
is unknown or its params do not fit the schema. Decoding never raises.

The notification the port's reader decodes is the very object a ``stream()`` yields: one object per event, end to
end. Besides the official ``method`` and ``payload`` it carries the engine's ``emittedAtMs`` and offers its
routing keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import msgspec

# The payload types the official module re-exports (for code written against older releases).
from ._protocol.generated import (
    AccountLoginCompletedNotification,
    AccountRateLimitsUpdatedNotification,
    AccountUpdatedNotification,
    AgentMessageDeltaNotification,
    AppListUpdatedNotification,
    CommandExecutionOutputDeltaNotification,
    ConfigWarningNotification,
    ContextCompactedNotification,
    DeprecationNoticeNotification,
    ErrorNotification,
    FileChangeOutputDeltaNotification,
    ItemCompletedNotification,
    ItemStartedNotification,
    McpServerOauthLoginCompletedNotification,
    McpToolCallProgressNotification,
    PlanDeltaNotification,
    RawResponseItemCompletedNotification,
    ReasoningSummaryPartAddedNotification,
    ReasoningSummaryTextDeltaNotification,
    ReasoningTextDeltaNotification,
    TerminalInteractionNotification,
    ThreadGoalClearedNotification,
    ThreadGoalUpdatedNotification,
    ThreadNameUpdatedNotification,
    ThreadStartedNotification,
    ThreadTokenUsageUpdatedNotification,
    TurnCompletedNotification,
    TurnDiffUpdatedNotification,
    TurnPlanUpdatedNotification,
    TurnStartedNotification,
    WindowsWorldWritableWarningNotification,
)

__all__ = [
    "AccountLoginCompletedNotification",
    "AccountRateLimitsUpdatedNotification",
    "AccountUpdatedNotification",
    "AgentMessageDeltaNotification",
    "AppListUpdatedNotification",
    "CoalescedNotification",
    "CommandExecutionOutputDeltaNotification",
    "ConfigWarningNotification",
    "ContextCompactedNotification",
    "DeprecationNoticeNotification",
    "ErrorNotification",
    "FileChangeOutputDeltaNotification",
    "InitializeResponse",
    "ItemCompletedNotification",
    "ItemStartedNotification",
    "JsonObject",
    "JsonScalar",
    "JsonValue",
    "McpServerOauthLoginCompletedNotification",
    "McpToolCallProgressNotification",
    "Notification",
    "NotificationPayload",
    "PlanDeltaNotification",
    "RawResponseItemCompletedNotification",
    "ReasoningSummaryPartAddedNotification",
    "ReasoningSummaryTextDeltaNotification",
    "ReasoningTextDeltaNotification",
    "ServerInfo",
    "TerminalInteractionNotification",
    "ThreadGoalClearedNotification",
    "ThreadGoalUpdatedNotification",
    "ThreadNameUpdatedNotification",
    "ThreadStartedNotification",
    "ThreadTokenUsageUpdatedNotification",
    "TurnCompletedNotification",
    "TurnDiffUpdatedNotification",
    "TurnPlanUpdatedNotification",
    "TurnStartedNotification",
    "UnknownNotification",
    "WindowsWorldWritableWarningNotification",
]

JsonScalar: TypeAlias = str | int | float | bool | None
JsonValue: TypeAlias = JsonScalar | dict[str, "JsonValue"] | list["JsonValue"]
JsonObject: TypeAlias = dict[str, JsonValue]


@dataclass(slots=True)
class UnknownNotification:
    """The params of a notification whose method is unknown, or whose params did not fit its schema."""

    params: JsonObject


#: A typed payload (a generated Struct) or :class:`UnknownNotification`.
NotificationPayload: TypeAlias = Any


class Notification(
    msgspec.Struct,
    frozen=True,
    gc=False,
    rename={"method": "@method", "payload": "params", "emitted_at_ms": "emittedAtMs"},
):
    """One engine notification: its ``method`` and its decoded ``payload``.

    Built positionally as ``Notification(method, payload)`` like the official dataclass. This project's
    additions: ``emitted_at_ms`` (the engine's timestamp), ``thread_id`` and ``turn_id`` (the routing keys, read
    off the payload), and ``params`` (the payload in its wire form).

    The notifications the engine sends are instances of one subclass per method, which msgspec decodes straight
    off the wire (see :mod:`codex_actors._protocol.notifications`): ``isinstance(note, Notification)`` holds for
    every one, and they print like this class.
    """

    method: str
    payload: NotificationPayload
    emitted_at_ms: int | None = None

    def __repr__(self) -> str:
        return f"Notification(method={self.method!r}, payload={self.payload!r})"

    @property
    def thread_id(self) -> str | None:
        """The thread this notification belongs to (``threadId`` of its params), if any."""
        payload = self.payload
        if isinstance(payload, UnknownNotification):
            value = payload.params.get("threadId")
        else:
            value = getattr(payload, "thread_id", None)
        return value if isinstance(value, str) else None

    @property
    def turn_id(self) -> str | None:
        """The turn this notification belongs to (``turnId``, else ``turn.id``, of its params), if any."""
        payload = self.payload
        if isinstance(payload, UnknownNotification):
            value = payload.params.get("turnId")
            turn = payload.params.get("turn")
            if value is None and isinstance(turn, dict):
                value = turn.get("id")
        else:
            value = getattr(payload, "turn_id", None)
            if value is None:
                value = getattr(getattr(payload, "turn", None), "id", None)
        return value if isinstance(value, str) else None

    @property
    def params(self) -> msgspec.Raw:
        """The params in their wire form (members the schema does not know are not kept)."""
        payload = self.payload
        value = payload.params if isinstance(payload, UnknownNotification) else payload
        return msgspec.Raw(msgspec.json.encode(value))


class CoalescedNotification(Notification, frozen=True, gc=False):
    """Several consecutive deltas of one item as one notification: ``payload.delta`` is their text, joined.

    This project's own (the official SDK has none): a turn's stream gives it to a reader that lagged far behind
    (see ``docs/02-architecture.md``, bounded logs) in place of the run of deltas it stands for, so a slow reader
    costs memory for the text, not for every event. ``method`` and the payload's type are those of the deltas it
    replaces, so code that handles a delta handles it; :attr:`deltas` is how many it stands for.
    """

    #: How many delta notifications this one stands for (at least 2).
    deltas: int = 1

    def __repr__(self) -> str:
        return f"Notification(method={self.method!r}, payload={self.payload!r}, deltas={self.deltas})"


@dataclass(slots=True)
class ServerInfo:
    """The engine's name and version, as the handshake reported them (or as derived from its user agent)."""

    name: str
    version: str


@dataclass(slots=True)
class InitializeResponse:
    """The engine's answer to ``initialize``, validated: ``Codex.metadata``.

    The field names are the wire's, as in the official SDK. The engine sends no ``serverInfo``; it is derived
    from ``userAgent`` (``name/version ...``, split at the first ``/``).
    """

    serverInfo: ServerInfo | None = None
    userAgent: str | None = None
    platformFamily: str | None = None
    platformOs: str | None = None


def _split_user_agent(user_agent: str) -> tuple[str | None, str | None]:
    raw = user_agent.strip()
    if not raw:
        return None, None
    if "/" in raw:
        name, version = raw.split("/", 1)
        return name or None, version or None
    parts = raw.split(maxsplit=1)
    if len(parts) == 2:
        return parts[0], parts[1]
    return raw, None


def initialize_response(result: dict[str, Any]) -> InitializeResponse:
    """Validate the ``initialize`` result; raises ``RuntimeError`` when the metadata is missing."""
    sent_user_agent = result.get("userAgent")
    user_agent = str(sent_user_agent or "").strip()
    server = result.get("serverInfo") if isinstance(result.get("serverInfo"), dict) else None
    name = str(server.get("name") or "").strip() or None if server else None
    version = str(server.get("version") or "").strip() or None if server else None
    if (name is None or version is None) and user_agent:
        parsed_name, parsed_version = _split_user_agent(user_agent)
        name = name or parsed_name
        version = version or parsed_version
    name, version = (name or "").strip(), (version or "").strip()
    if not user_agent or not name or not version:
        raise RuntimeError(
            "initialize response missing required metadata "
            f"(user_agent={user_agent!r}, server_name={name!r}, server_version={version!r})"
        )

    def text(key: str) -> str | None:
        value = result.get(key)
        return value if isinstance(value, str) else None

    return InitializeResponse(
        serverInfo=ServerInfo(name, version),
        userAgent=sent_user_agent if isinstance(sent_user_agent, str) else user_agent,  # kept as sent
        platformFamily=text("platformFamily"),
        platformOs=text("platformOs"),
    )
