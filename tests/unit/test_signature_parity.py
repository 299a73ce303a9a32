"""Every name of `openai_codex.__all__` exists in `codex_actors` with the same kind and the same signatures.

Parameter names, kinds, order and defaults must match for every public callable, method and property; this
project may only add parameters that have defaults, after the official ones. A future drift fails here.
"""

from __future__ import annotations

import enum
import inspect
from typing import Any

import openai_codex
import pytest

import codex_actors

NAMES = sorted(openai_codex.__all__)


def kind(obj: Any) -> str:
    if isinstance(obj, type) and issubclass(obj, enum.Enum):
        return "enum"
    if isinstance(obj, type):
        return "class"
    if callable(obj):
        return "function"
    if isinstance(obj, str):
        return "str"
    return "alias"


def check_signature(where: str, official: Any, ours: Any) -> None:
    try:
        theirs = inspect.signature(official)
    except (TypeError, ValueError):
        return
    mine = inspect.signature(ours)
    official_params = list(theirs.parameters.values())
    our_params = list(mine.parameters.values())
    assert len(our_params) >= len(official_params), f"{where}: missing parameters {theirs} vs {mine}"
    for a, b in zip(official_params, our_params, strict=False):
        assert (a.name, a.kind) == (b.name, b.kind), f"{where}: {a} != {b} in {theirs} vs {mine}"
        assert (a.default is inspect.Parameter.empty) == (b.default is inspect.Parameter.empty), f"{where}: {a}"
        if a.default is not inspect.Parameter.empty:
            assert a.default == b.default, f"{where}: default of {a.name}: {a.default!r} != {b.default!r}"
    for extra in our_params[len(official_params) :]:
        assert extra.default is not inspect.Parameter.empty or extra.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ), f"{where}: added parameter {extra.name} has no default"


def public_members(cls: type) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name in dir(cls):
        if name.startswith("_") and name not in ("__init__", "__enter__", "__exit__", "__aenter__", "__aexit__"):
            continue
        members[name] = inspect.getattr_static(cls, name)
    return members


@pytest.mark.parametrize("name", NAMES)
def test_same_name_same_kind(name: str) -> None:
    assert hasattr(codex_actors, name), f"codex_actors lacks {name}"
    official, ours = getattr(openai_codex, name), getattr(codex_actors, name)
    assert kind(ours) == kind(official), f"{name}: {kind(ours)} != {kind(official)}"
    if kind(official) == "function":
        check_signature(name, official, ours)
        assert inspect.iscoroutinefunction(official) == inspect.iscoroutinefunction(ours)


@pytest.mark.parametrize("name", [n for n in NAMES if kind(getattr(openai_codex, n)) == "enum"])
def test_enums_have_the_same_members(name: str) -> None:
    official, ours = getattr(openai_codex, name), getattr(codex_actors, name)
    assert [(m.name, m.value) for m in official] == [(m.name, m.value) for m in ours]
    assert issubclass(ours, str) == issubclass(official, str)


@pytest.mark.parametrize("name", [n for n in NAMES if kind(getattr(openai_codex, n)) == "class"])
def test_classes_have_the_same_public_members(name: str) -> None:
    official, ours = getattr(openai_codex, name), getattr(codex_actors, name)
    for base in ("Exception", "TimeoutError"):
        if any(b.__name__ == base for b in official.__mro__):
            assert any(b.__name__ == base for b in ours.__mro__)
    official_members, our_members = public_members(official), public_members(ours)
    for member, value in official_members.items():
        if member in ("args", "with_traceback", "add_note"):
            continue
        assert member in our_members, f"{name}.{member} is missing"
        mine = our_members[member]
        if isinstance(value, property):
            assert isinstance(mine, property), f"{name}.{member} should be a property"
            continue
        if isinstance(value, staticmethod | classmethod):
            value, mine = value.__func__, getattr(mine, "__func__", mine)
        if inspect.isfunction(value):
            assert inspect.isfunction(mine), f"{name}.{member} should be a method"
            check_signature(f"{name}.{member}", value, mine)
            assert inspect.iscoroutinefunction(value) == inspect.iscoroutinefunction(mine), f"{name}.{member}"
            assert inspect.isasyncgenfunction(value) == inspect.isasyncgenfunction(mine), f"{name}.{member}"


def test_error_hierarchy_matches() -> None:
    for name in NAMES:
        official = getattr(openai_codex, name)
        if isinstance(official, type) and issubclass(official, BaseException):
            ours = getattr(codex_actors, name)
            official_bases = [b.__name__ for b in official.__mro__ if b.__module__.startswith("openai_codex")]
            our_bases = [b.__name__ for b in ours.__mro__ if b.__module__.startswith("codex_actors")]
            assert official_bases == our_bases, name


def test_types_module_exports_the_same_names() -> None:
    import openai_codex.types

    import codex_actors.types

    assert sorted(openai_codex.types.__all__) == sorted(codex_actors.types.__all__)
