"""The local files of a turn's input: checked before the turn is sent, held while it runs.

A ``localImage`` item names a file the engine reads and sends to the model as an image. Neither the engine nor
the official SDK says a word when that file is missing, unreadable or not an image (the model just gets no
image); here the turn is refused first, with an :class:`~codex_actors.errors.InvalidInputError` naming the item
(``input[1].path``). A file staged with :mod:`codex_actors.files` is held (:func:`codex_actors.files.in_use`) for
as long as the turn that uses it runs, so no cleanup removes it under the engine.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Sequence
from typing import Any

from ._staging import Sniffer
from .errors import InvalidInputError
from .files import _in_use_paths

__all__ = ["check_local_images", "holding_local_images", "turn_files"]

#: Bytes read to tell an image by its magic number.
_HEAD = 16


def _local_images(items: Sequence[Any]) -> Iterator[tuple[int, str]]:
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") == "localImage" and isinstance(item.get("path"), str):
            yield index, item["path"]


def check_local_images(items: Sequence[Any], field: str = "input") -> None:
    """Refuse a ``localImage`` whose file is missing, unreadable, not a regular file, or not an image."""
    for index, path in _local_images(items):
        where = f"{field}[{index}].path"
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # before opening: a FIFO would block the open
                raise InvalidInputError(where, f"{path!r} is not a regular file")
            with open(path, "rb") as file:
                head = file.read(_HEAD)
        except OSError as exc:
            raise InvalidInputError(where, f"cannot read the local image {path!r}: {exc.strerror}") from None
        sniffer = Sniffer()
        sniffer.feed(head)
        kind = sniffer.result()
        if kind is None or not kind.startswith("image/"):
            raise InvalidInputError(
                where, f"{path!r} is not an image (PNG, JPEG, GIF or WebP by its bytes; got {kind or 'unknown'})"
            )


def holding_local_images(items: Sequence[Any]) -> contextlib.AbstractContextManager[None]:
    """Hold, while the block runs, the staged files among the turn's local images."""
    return _in_use_paths(path for _, path in _local_images(items))


def turn_files(items: Sequence[Any]) -> contextlib.ExitStack:
    """A turn's local images checked (:func:`check_local_images`), and held until the stack is closed."""
    check_local_images(items)
    held = contextlib.ExitStack()
    held.enter_context(holding_local_images(items))
    return held
