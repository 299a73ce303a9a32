"""Typed decoding of notification params: the generated Struct for the method, else UnknownNotification.

The reader decodes most notifications in one pass through the method-tagged union (see
:mod:`~codex_actors.protocol.jsonrpc`); this is the cold path for the rest, and for raw params kept elsewhere.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from ..models import UnknownNotification
from .generated import SERVER_NOTIFICATIONS

__all__ = ["decode_params"]


@cache
def _decoder(method: str) -> msgspec.json.Decoder[Any] | None:
    wire_type = SERVER_NOTIFICATIONS.get(method)
    return None if wire_type is None else msgspec.json.Decoder(wire_type)


def _unknown(params: msgspec.Raw) -> UnknownNotification:
    try:
        value = msgspec.json.decode(params)
    except msgspec.DecodeError:  # pragma: no cover - the envelope was valid JSON already
        value = None
    return UnknownNotification(value if isinstance(value, dict) else {})


def decode_params(method: str, params: msgspec.Raw) -> Any:
    """The typed payload of ``params`` for ``method``; an :class:`UnknownNotification` when it does not fit."""
    decoder = _decoder(method)
    if decoder is None:
        return _unknown(params)
    try:
        return decoder.decode(params)
    except msgspec.DecodeError:
        return _unknown(params)
