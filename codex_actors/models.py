"""Notification wrappers and JSON aliases, as in ``openai_codex.models``.

A :class:`Notification` pairs a method with its typed payload: the generated msgspec Struct for a known method
(``codex_actors.protocol.generated``), or an :class:`UnknownNotification` carrying the raw params when the method
is unknown or its params do not fit the schema. Decoding never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["JsonObject", "JsonScalar", "JsonValue", "Notification", "NotificationPayload", "UnknownNotification"]

JsonScalar: TypeAlias = str | int | float | bool | None
JsonValue: TypeAlias = JsonScalar | dict[str, "JsonValue"] | list["JsonValue"]
JsonObject: TypeAlias = dict[str, JsonValue]


@dataclass(slots=True)
class UnknownNotification:
    """The params of a notification whose method is unknown, or whose params did not fit its schema."""

    params: JsonObject


#: A typed payload (a generated Struct) or :class:`UnknownNotification`.
NotificationPayload: TypeAlias = Any


@dataclass(slots=True)
class Notification:
    """One engine notification: its method and its decoded payload."""

    method: str
    payload: NotificationPayload
