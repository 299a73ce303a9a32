"""The facade's flat keyword methods come from one spec: checked in as generated, one line per option."""

from __future__ import annotations

import dataclasses
import importlib.machinery
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

import codex_actors

ROOT = Path(__file__).resolve().parents[2]


def _load_generator() -> ModuleType:
    path = ROOT / "bin" / "generate-facade"
    loader = importlib.machinery.SourceFileLoader("generate_facade", str(path))
    spec = importlib.util.spec_from_loader("generate_facade", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_facade"] = module
    loader.exec_module(module)
    return module


GENERATOR = _load_generator()


def test_the_checked_in_facade_is_what_the_generator_writes() -> None:
    for path, text in GENERATOR.generate(GENERATOR.load_spec()).items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run bin/generate-facade"


def test_one_spec_line_adds_an_option_to_run_and_turn_sync_and_async() -> None:
    """The CONTRIBUTING example: ``Param("permissions")`` in ``TURN`` (a real ``turn/start`` field)."""
    spec = GENERATOR.load_spec()
    extended = (*spec.TURN[:-1], spec.Param("permissions"), spec.TURN[-1])
    spec.METHODS["Thread"] = tuple(
        dataclasses.replace(method, params=extended) if method.params == spec.TURN else method
        for method in spec.METHODS["Thread"]
    )
    modules = GENERATOR.generate(spec)
    turn_params = modules.pop(GENERATOR.TURN_PARAMS_MODULE)
    compile(turn_params, "_turn_params.py", "exec")
    assert '"permissions",\n    "output_type",\n)' in turn_params  # TURN_OPTIONS
    assert "    permissions: str | None = None,\n    output_type: Any = None," in turn_params
    assert turn_params.count('"permissions": permissions,') == 1
    for path, text in modules.items():
        compile(text, str(path), "exec")  # still a valid module
        for method in ("run", "turn"):
            body = text.split(f"def {method}(\n", 1)[1].split("\n\n", 1)[0]
            assert "        permissions: str | None = None,\n        output_type: Any = None," in body, path
        assert text.count('"permissions": permissions,') == 2, path
    current = GENERATOR.generate(GENERATOR.load_spec())
    del current[GENERATOR.TURN_PARAMS_MODULE]
    changed = {path.name: _added_lines(current[path], text) for path, text in modules.items()}
    assert changed == {
        "_sync_api.py": ["permissions: str | None = None,", '"permissions": permissions,'] * 2,
        "_async_api.py": ["permissions: str | None = None,", '"permissions": permissions,'] * 2,
    }


def _added_lines(before: str, after: str) -> list[str]:
    import difflib

    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")]


def test_a_spec_naming_a_field_the_protocol_lacks_is_refused() -> None:
    spec = GENERATOR.load_spec()
    bad = dataclasses.replace(spec.CODEX[0], params=(*spec.CODEX[0].params, spec.Param("no_such_option")))
    spec.METHODS["Codex"] = (bad, *spec.CODEX[1:])
    with pytest.raises(GENERATOR.SpecError, match="no_such_option is not a field of ThreadStartParams"):
        GENERATOR.generate(spec)


def test_a_spec_filling_a_field_twice_is_refused() -> None:
    spec = GENERATOR.load_spec()
    twice = spec.Param("again", "str | None", fields={"cwd": "again"})
    bad = dataclasses.replace(spec.CODEX[0], params=(*spec.CODEX[0].params, twice))
    spec.METHODS["Codex"] = (bad, *spec.CODEX[1:])
    with pytest.raises(GENERATOR.SpecError, match="cwd is filled twice"):
        GENERATOR.generate(spec)


def test_a_generated_method_names_its_wire_fields_by_the_protocol_and_leaves_out_none() -> None:
    """``source`` goes out as ``turnTrigger`` and ``include_turns`` as ``excludeTurns``, spelled by the schema."""
    source = inspect.getsource(codex_actors.Thread.turn)
    assert '"turnTrigger": source,' in source and '"serviceTierForTurn": turn_service_tier,' in source
    resume = inspect.getsource(codex_actors.Codex.thread_resume)
    assert '"excludeTurns": None if include_turns is None else not include_turns,' in resume
    from codex_actors._protocol.jsonrpc import wire_params

    assert wire_params({"a": None, "b": 0, "c": False, "d": []}) == {"b": 0, "c": False, "d": []}


def test_run_turn_carries_every_option_of_thread_run() -> None:
    """``RunTurn`` has ``Thread.run``'s input and options (the actor builds its params with ``turn_params``)."""
    from codex_actors._sync_api import Thread
    from codex_actors._turn_params import TURN_OPTIONS
    from codex_actors.actors import RunTurn

    run = inspect.signature(Thread.run).parameters
    assert tuple(name for name in run if name not in ("self", "input")) == TURN_OPTIONS
    assert set(RunTurn.__struct_fields__) == {"input", "reply_to", "tag", "trace", *TURN_OPTIONS}
