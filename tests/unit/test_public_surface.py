"""The drawn public line: which modules are public, what each exports, and the official submodule paths.

Like httpx's exported-members test: a name added to (or dropped from) a public module's ``__all__`` fails here
until this pin says so, on purpose. Every other module is private (a leading underscore on it or a parent).
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import types
from pathlib import Path
from typing import Any

import pytest

import codex_actors

#: Each public module's ``__all__``, sorted: the pin (a golden file; change it on purpose, with the change).
EXPORTS: dict[str, tuple[str, ...]] = {
    module: tuple(names)
    for module, names in json.loads((Path(__file__).with_name("public_surface.json")).read_text()).items()
}

#: The official SDK's public modules, mirrored at the same paths (``openai_codex.X`` -> ``codex_actors.X``).
OFFICIAL_MODULES = ("api", "errors", "models", "retry", "types")

#: Names of the official modules a program can import that codex-actors does not offer, and why (also in
#: docs/python-parity-checklist.md, "Submodule paths").
NOT_OFFERED: dict[str, dict[str, str]] = {
    "api": {
        "CodexClient": "the official low-level client (its transport); codex-actors' runtime replaces it",
        "AsyncCodexClient": "the official low-level async client; codex-actors' runtime replaces it",
        "start_chatgpt_login": "a helper of the official api module's login methods",
        "start_device_code_login": "a helper of the official api module's login methods",
        "async_start_chatgpt_login": "a helper of the official api module's login methods",
        "async_start_device_code_login": "a helper of the official api module's login methods",
        "validate_initialize_metadata": "a helper of the official constructor (``Codex.metadata`` is its result)",
    },
}

#: Standard-library and third-party modules whose names an official module merely imports.
_FOREIGN = ("typing", "collections", "dataclasses", "asyncio", "pydantic", "__future__", "random", "time", "abc")


def _public_modules() -> list[str]:
    names = ["codex_actors", *(m.name for m in pkgutil.walk_packages(codex_actors.__path__, "codex_actors."))]
    return sorted(name for name in names if not any(part.startswith("_") for part in name.split(".")))


def test_the_public_modules_are_exactly_the_pinned_ones() -> None:
    assert _public_modules() == sorted(EXPORTS)


@pytest.mark.parametrize("module_name", sorted(EXPORTS))
def test_each_public_module_exports_exactly_the_pinned_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert tuple(sorted(module.__all__)) == EXPORTS[module_name]
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name} is in __all__ but missing"


@pytest.mark.parametrize("module_name", sorted(EXPORTS))
def test_every_public_module_says_what_it_is(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__ and module.__doc__.strip(), f"{module_name} has no docstring"
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{module_name}.{name} has no docstring"


def _official_names(module: types.ModuleType) -> list[str]:
    names = []
    for name in dir(module):
        if name.startswith("_"):
            continue
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            continue
        origin = getattr(value, "__module__", None) or ""
        if origin.split(".")[0] in _FOREIGN:  # an import of the module's (Iterator, dataclass, BaseModel...)
            continue
        if origin == "__future__" or type(value).__module__ == "__future__":
            continue
        names.append(name)
    return sorted(names)


@pytest.mark.parametrize("module_name", OFFICIAL_MODULES)
def test_every_name_an_official_module_offers_is_at_the_same_codex_actors_path(module_name: str) -> None:
    official = importlib.import_module(f"openai_codex.{module_name}")
    ours = importlib.import_module(f"codex_actors.{module_name}")
    not_offered = NOT_OFFERED.get(module_name, {})
    missing = [name for name in _official_names(official) if name not in not_offered and not hasattr(ours, name)]
    assert missing == [], f"from openai_codex.{module_name} import {', '.join(missing)} would break"
    stale = [name for name in not_offered if not hasattr(official, name)]
    assert stale == [], f"declared as not offered, but openai_codex.{module_name} has no {stale}"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Codex", codex_actors.Codex),
        ("AsyncCodex", codex_actors.AsyncCodex),
        ("AsyncThread", codex_actors.AsyncThread),
        ("AsyncTurnHandle", codex_actors.AsyncTurnHandle),
        ("TurnResult", codex_actors.TurnResult),
    ],
)
def test_the_api_module_holds_the_same_objects_as_the_package(name: str, expected: Any) -> None:
    import codex_actors.api

    assert getattr(codex_actors.api, name) is expected


def test_the_declared_not_offered_names_are_in_the_parity_checklist() -> None:
    checklist = (Path(__file__).resolve().parents[2] / "docs" / "python-parity-checklist.md").read_text()
    for module_name, names in NOT_OFFERED.items():
        for name in names:
            assert f"openai_codex.{module_name}.{name}" in checklist, name
