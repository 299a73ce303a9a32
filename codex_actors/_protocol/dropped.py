"""What a dropped line still tells: its JSON-RPC ``id`` and ``method``, its params' ``threadId`` and ``turnId``.

A line over the limit is never buffered whole: only its first and last few KiB are kept
(:class:`~codex_actors._protocol.framing.DroppedLine`). The engine's field order is not guaranteed, so both ends
are read: the head forward from the line's start, the tail backward from its end, each with a small JSON scanner
that knows which object a member belongs to (the envelope, its ``params``, ``params.turn``), so a nested ``id``
or ``threadId`` deep inside the payload is never taken for the envelope's. A value cut by the kept bytes' edge is
not trusted. Runs on the reader thread, only for dropped lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .jsonrpc import RequestId

__all__ = ["DroppedFields", "dropped_fields"]

_SPACE = b" \t\r\n"
_SCALAR = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR_CHARS = frozenset(b"0123456789+-.eEtrufalsn")

#: A member found: (the keys of the objects that hold it, from the envelope's down; its key) -> its value.
_Found = dict[tuple[tuple[str, ...], str], Any]
#: A member found from the end: (its depth, 1 for the envelope's own members; its key) -> its value.
_FoundByDepth = dict[tuple[int, str], Any]


@dataclass(frozen=True, slots=True)
class DroppedFields:
    """The envelope of a dropped line, as far as its head and tail show it (``None``: not seen)."""

    id: RequestId | None = None
    method: str | None = None
    thread_id: str | None = None
    turn_id: str | None = None


def _string(token: bytes) -> str | None:
    try:
        value = json.loads(token)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _scan_forward(head: bytes) -> _Found:
    found: _Found = {}
    stack: list[tuple[bool, str | None]] = []  # (is an object, the key it sits under) per open container
    key: str | None = None
    expect_key = False
    pos, end = 0, len(head)
    while True:
        while pos < end and head[pos] in _SPACE:
            pos += 1
        if pos >= end:
            return found
        char = head[pos : pos + 1]
        value: Any
        if char == b'"':
            match = _STRING.match(head, pos)
            if match is None:
                return found  # cut inside a string
            pos = match.end()
            text = _string(match.group())
            if expect_key:
                key, expect_key = text, False
                continue
            value = text
        elif char in (b"{", b"["):
            stack.append((char == b"{", key))
            key, expect_key = None, char == b"{"
            pos += 1
            continue
        elif char in (b"}", b"]"):
            if not stack:
                return found
            stack.pop()
            key, pos = None, pos + 1
            continue
        elif char == b",":
            key, expect_key, pos = None, bool(stack) and stack[-1][0], pos + 1
            continue
        elif char == b":":
            pos += 1
            continue
        else:
            match = _SCALAR.match(head, pos)
            if match is None or match.end() >= end:
                return found  # not JSON, or a number cut by the head's end
            pos = match.end()
            value = json.loads(match.group())
        if stack and stack[-1][0] and key is not None:
            path = tuple(k or "" for _, k in stack[1:])
            found.setdefault((path, key), value)
        key = None


def _string_start(tail: bytes, close: int) -> int:
    """Where the string that ends with the quote at ``close`` starts (-1: before the tail)."""
    pos = close
    while True:
        pos = tail.rfind(b'"', 0, pos)
        if pos < 0:
            return -1
        slashes = 0
        while pos - slashes - 1 >= 0 and tail[pos - slashes - 1] == 0x5C:
            slashes += 1
        if slashes % 2 == 0:
            # At the tail's very start, what came before (a backslash?) is unknown: not trusted.
            return -1 if pos - slashes == 0 else pos


def _scan_backward(tail: bytes) -> _FoundByDepth:
    found: _FoundByDepth = {}
    stack: list[bool] = []  # is an object, per container open (seen from its end)
    value: Any = None
    has_value = after_colon = False
    pos = len(tail) - 1
    while pos >= 0:
        byte = tail[pos]
        if byte in _SPACE:
            pos -= 1
            continue
        char = tail[pos : pos + 1]
        if char == b'"':
            start = _string_start(tail, pos)
            if start < 0:
                return found
            text = _string(tail[start : pos + 1])
            if after_colon:
                if has_value and text is not None and stack and stack[-1]:
                    found.setdefault((len(stack), text), value)
                has_value = after_colon = False
            else:
                value, has_value = text, True
            pos = start - 1
            continue
        pos -= 1
        if char in (b"}", b"]"):
            stack.append(char == b"}")
            has_value = after_colon = False
        elif char in (b"{", b"["):
            if not stack:
                return found
            stack.pop()
            has_value = after_colon = False  # a container value: nothing to record
        elif char == b",":
            has_value = after_colon = False
        elif char == b":":
            after_colon = True
        elif byte in _SCALAR_CHARS:
            start = pos + 1
            while start > 0 and tail[start - 1] in _SCALAR_CHARS:
                start -= 1
            if start == 0:
                return found  # it may have begun before the tail
            match = _SCALAR.fullmatch(tail, start, pos + 2)
            if match is None:
                return found
            value, has_value, pos = json.loads(match.group()), True, start - 1
        else:
            return found
    return found


def _request_id(value: Any) -> RequestId | None:
    if isinstance(value, bool):
        return None
    return value if isinstance(value, int | str) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def dropped_fields(head: bytes, tail: bytes) -> DroppedFields:
    """The envelope fields of a dropped line, from its first bytes (``head``) and its last (``tail``)."""
    ahead = _scan_forward(head)
    behind = _scan_backward(tail)

    def pick(forward: tuple[tuple[str, ...], str], depth: int) -> Any:
        value = ahead.get(forward)
        return behind.get((depth, forward[1])) if value is None else value

    turn = pick((("params",), "turnId"), 2)
    if turn is None:
        turn = ahead.get((("params", "turn"), "id"))
    return DroppedFields(
        id=_request_id(pick(((), "id"), 1)),
        method=_str(pick(((), "method"), 1)),
        thread_id=_str(pick((("params",), "threadId"), 2)),
        turn_id=_str(turn),
    )
