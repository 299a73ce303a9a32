"""Decoding notifications: one :class:`~codex_actors.models.Notification` subclass per method, off the wire.

For every notification method in the schema there is a subclass of ``Notification`` tagged by ``method``, whose
``payload`` field is that method's generated Struct (read from ``params``) and whose ``thread_id``/``turn_id``
are C-level attribute reads. msgspec decodes a line, or a whole read of lines, straight into these objects:
the notification a ``stream()`` yields is the object the decoder built, with no wrapping on the way.

What does not fit (an unknown method, params the schema rejects) takes the cold path, :func:`decode_params`,
and becomes a plain ``Notification`` whose payload is an :class:`~codex_actors.models.UnknownNotification`.
"""

from __future__ import annotations

import functools
import operator
import sys
from collections.abc import Mapping
from typing import Any, cast

import msgspec

from ..models import Notification, UnknownNotification
from .generated import SERVER_NOTIFICATIONS

__all__ = ["TYPED_NOTIFICATIONS", "TypedNotification", "decode_params"]


def _key(payload_type: Any, name: str) -> property | None:
    """A C-level getter for ``thread_id``/``turn_id`` of this payload type (``None``: it has no such key)."""
    fields = {field.name: field for field in msgspec.structs.fields(payload_type)}
    if name in fields:
        return property(operator.attrgetter(f"payload.{name}"))
    if name == "turn_id" and "turn" in fields and fields["turn"].required:
        return property(operator.attrgetter("payload.turn.id"))
    return None


def _class_name(method: str) -> str:
    words = method.replace("/", " ").split()
    return "".join(word[:1].upper() + word[1:] for word in words) + "Event"


def _typed(method: str, payload_type: Any) -> type[Notification]:
    namespace: dict[str, Any] = {"__doc__": f"A ``{method}`` notification (payload ``{payload_type.__name__}``)."}
    for name in ("thread_id", "turn_id"):
        getter = _key(payload_type, name)
        namespace[name] = getter  # None: a plain class attribute, read as fast as a field
    cls = msgspec.defstruct(
        _class_name(method),
        [("method", str, method), ("payload", payload_type), ("emitted_at_ms", int | None, None)],
        bases=(Notification,),
        module=__name__,
        namespace=namespace,
        tag_field="method",
        tag=method,
        kw_only=True,
        omit_defaults=True,
        frozen=True,
        gc=False,
    )
    setattr(sys.modules[__name__], cls.__name__, cls)  # so that pickle finds it
    return cast("type[Notification]", cls)


#: The typed notification class of each method.
TYPED_NOTIFICATIONS: Mapping[str, type[Notification]] = {
    method: _typed(method, payload_type) for method, payload_type in SERVER_NOTIFICATIONS.items()
}

#: The method-tagged union of every typed notification class (what the reader's decoders target).
TypedNotification: Any = functools.reduce(operator.or_, TYPED_NOTIFICATIONS.values())


@functools.cache
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
