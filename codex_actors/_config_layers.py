"""Configuration layers: one merge for all of them, the flattening of engine config, the environment layer.

Options come from several places, each a layer over the one before: library defaults < the environment
(``CODEX_API_KEY``, ``CODEX_URL``) < ``CodexConfig`` < a thread's options < a turn's options. :func:`merge` is
the one way layers combine: right-biased (a later layer wins on every key it sets), deep for nested mappings
(a table of a later layer adds to the earlier one's, key by key), ``None`` meaning "not set here".

>>> merge({"model": "a", "features": {"x": True}}, {"features": {"y": False}}, {"model": "b"})
{'model': 'b', 'features': {'x': True, 'y': False}}
>>> merge({"model": "a"}, {"model": None})
{'model': 'a'}

:func:`flatten` turns a nested engine config into ``--config`` values, one per leaf, each a TOML literal the
engine parses back (:mod:`codex_actors._toml`); a table whose keys the engine's dotted paths cannot name (a dot in
a key) is written whole, inline:

>>> flatten({"model": "gpt-5.5", "features": {"goals": True}, "shell_environment_policy": {"set": {}}})
['model="gpt-5.5"', 'features.goals=true', 'shell_environment_policy.set={}']

The environment layer and what a ``CodexConfig`` sets in the engine's config are
:func:`codex_actors._config.resolve` and :func:`codex_actors._config.engine_config`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._logs import SECRET_KEY
from ._toml import literal

__all__ = ["flatten", "merge"]

#: A key the engine's ``--config`` dotted paths can name.
_PATH_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
#: Keys whose value names a secret rather than holding one (the variable to read it from).
_NAMES_A_SECRET = re.compile(r"(?:_env_var|_env|env_key|env_vars|_helper)$", re.IGNORECASE)


def merge(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The layers combined, later over earlier: deep for mappings, a ``None`` value (or layer) is not set."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        for key, value in layer.items():
            if value is None:
                continue
            current = merged.get(key)
            if isinstance(value, Mapping) and isinstance(current, Mapping):
                merged[key] = merge(current, value)
            elif isinstance(value, Mapping):
                merged[key] = merge(value)
            else:
                merged[key] = value
    return merged


def flatten(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``config`` as ``--config`` values (``dotted.key=<TOML literal>``), in its order.

    Raises ``ValueError`` naming the key for a value TOML cannot hold (``None``, NaN, infinity, ...), a key that
    is not a string, and a key that looks like a secret (its value would be on the engine's command line, which
    every user of the machine can read: give keys as ``CodexConfig.api_key`` or through ``CodexConfig.env``).
    """
    flags: list[str] = []
    for key, value in config.items():
        if not isinstance(key, str) or not _PATH_KEY.match(key):
            where = f"config.{prefix}" if prefix else "config"
            raise ValueError(f"{where}: a key must be letters, digits, '_' or '-', got {key!r}")
        path = f"{prefix}{key}"
        _refuse_secret(path, key)
        if isinstance(value, Mapping) and value and all(isinstance(k, str) and _PATH_KEY.match(k) for k in value):
            flags += flatten(value, f"{path}.")
        else:  # a value, or a table with a key a dotted path cannot name (a dot in it): written whole, inline
            flags.append(_flag(path, value))
    return flags


def _flag(path: str, value: Any) -> str:
    _check_secrets(value, path)
    try:
        return f"{path}={literal(value)}"
    except ValueError as exc:
        raise ValueError(f"config.{path}: {exc}") from None


def _refuse_secret(path: str, key: str) -> None:
    if SECRET_KEY.search(key) and not _NAMES_A_SECRET.search(key):
        raise ValueError(
            f"config.{path} looks like a secret: --config values are on the engine's command line, visible to "
            "every user of the machine; give an API key as CodexConfig.api_key, or put the secret in "
            "CodexConfig.env and name the variable (e.g. env_key)"
        )


def _check_secrets(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                _refuse_secret(f"{path}.{key}", key)
            _check_secrets(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_secrets(item, f"{path}[{index}]")
