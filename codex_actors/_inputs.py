"""Turn inputs: the official SDK's input types and their wire forms.

``str`` becomes one text item; a single item is wrapped in a list; a list is mapped item by item (a tuple is not
accepted). :class:`ExternalMessage` is only valid as the whole input: it is sent as ``input: []`` plus
``toolOutput``. A :class:`~codex_actors.files.StagedFile` (alone, or as ``LocalImageInput``'s path or
``ImageInput``'s url) is a local image of its staged copy; one that is not an image is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import msgspec

from ._protocol.generated import FunctionCallOutputContentItem, TurnToolOutput
from .errors import InvalidInputError
from .files import StagedFile
from .models import JsonObject

__all__ = [
    "ExternalMessage",
    "ImageInput",
    "Input",
    "InputItem",
    "LocalImageInput",
    "MentionInput",
    "RunInput",
    "SkillInput",
    "TextInput",
]


@dataclass(slots=True)
class TextInput:
    """Text supplied to a turn or steering request."""

    text: str


@dataclass(slots=True)
class ImageInput:
    """Image data URL supplied as turn input (or a staged image: :func:`codex_actors.files.stage`)."""

    url: str | StagedFile


@dataclass(slots=True)
class LocalImageInput:
    """Local image path supplied as turn input (or a staged image: :func:`codex_actors.files.stage`)."""

    path: str | StagedFile


@dataclass(slots=True)
class SkillInput:
    """Named skill reference supplied as turn input."""

    name: str
    path: str


@dataclass(slots=True)
class MentionInput:
    """Named resource mention supplied as turn input."""

    name: str
    path: str


@dataclass(slots=True)
class ExternalMessage:
    """Untrusted content from another agent, tool or application, with tool-level authority.

    Pass it as the whole input of ``thread.run()``/``thread.turn()``. ``tool_name`` names the tool delivering
    it; ``content`` is text or Responses-compatible function-output content items (dicts are fine). It does not
    establish user authorization or approval.
    """

    tool_name: str
    content: str | Sequence[JsonObject | FunctionCallOutputContentItem]
    namespace: str | None = None


InputItem: TypeAlias = TextInput | ImageInput | LocalImageInput | SkillInput | MentionInput | StagedFile
Input: TypeAlias = list[InputItem] | InputItem
RunInput: TypeAlias = Input | str | ExternalMessage


def _staged_image(staged: StagedFile) -> JsonObject:
    """A staged file as a local image: refused when its bytes are not an image's."""
    if not staged.is_image:
        raise InvalidInputError(
            "input", f"the staged file {staged.name!r} is {staged.mime_type}, not an image (PNG, JPEG, GIF, WebP)"
        )
    return {"type": "localImage", "path": staged.path}


def _wire_item(item: InputItem | StagedFile) -> JsonObject:
    if isinstance(item, TextInput):
        return {"type": "text", "text": item.text}
    if isinstance(item, ImageInput):
        if isinstance(item.url, StagedFile):
            return _staged_image(item.url)
        return {"type": "image", "url": item.url}
    if isinstance(item, LocalImageInput):
        if isinstance(item.path, StagedFile):
            return _staged_image(item.path)
        return {"type": "localImage", "path": item.path}
    if isinstance(item, StagedFile):
        return _staged_image(item)
    if isinstance(item, SkillInput):
        return {"type": "skill", "name": item.name, "path": item.path}
    if isinstance(item, MentionInput):
        return {"type": "mention", "name": item.name, "path": item.path}
    raise TypeError(f"unsupported input item: {type(item)!r}")


def wire_input(value: Input | str) -> list[JsonObject]:
    """The ``input`` array of a turn or a steer."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if isinstance(value, list):
        return [_wire_item(item) for item in value]
    return [_wire_item(value)]


def wire_turn_input(value: RunInput) -> tuple[list[JsonObject], dict[str, Any] | None]:
    """The ``input`` array and the ``toolOutput`` object (or ``None``) of a turn."""
    if isinstance(value, ExternalMessage):
        if not isinstance(value.tool_name, str) or not value.tool_name.strip():
            raise ValueError("ExternalMessage.tool_name must be a nonempty string")
        raw = {"name": value.tool_name, "namespace": value.namespace, "output": value.content}
        validated = msgspec.convert(raw, TurnToolOutput)  # invalid content raises msgspec.ValidationError
        output: dict[str, Any] = msgspec.to_builtins(validated)
        return [], output
    return wire_input(value), None
