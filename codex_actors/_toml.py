"""TOML literals for the engine's ``--config key=value`` flags (the value is parsed as TOML by the engine).

:func:`literal` writes one value: strings quoted and escaped, integers, finite floats, booleans, arrays, and
tables inline (``{key = value, ...}``, keys quoted unless bare). ``None``, NaN and infinities have no TOML
form and are refused with ``ValueError``, as are strings that are not UTF-8 (a lone surrogate).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["key", "literal"]

#: A key TOML takes unquoted.
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
#: What a TOML basic string must escape besides ``"`` and ``\``: the control characters (DEL included).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"not UTF-8 (a lone surrogate?): {value!r}") from None
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = _CONTROL.sub(lambda m: _SHORT_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), escaped)
    return f'"{escaped}"'


def key(name: str) -> str:
    """``name`` as a TOML key: bare when it can be, a quoted string otherwise."""
    return name if _BARE_KEY.match(name) else _string(name)


def literal(value: Any) -> str:
    """``value`` as a TOML literal; ``ValueError`` (naming what) for a value TOML cannot hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML has no {value!r}: give a finite number")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        parts = []
        for name, item in value.items():
            if not isinstance(name, str):
                raise ValueError(f"a TOML key must be a string, got {name!r}")
            parts.append(f"{key(name)} = {literal(item)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if value is None:
        raise ValueError("TOML has no null: leave the key out instead")
    raise ValueError(f"TOML cannot hold a {type(value).__name__}: {value!r}")
