"""Configuration on the REAL engine + scripted model, with no hand-written config.toml at all.

* ``CodexConfig(config=..., base_url=..., api_key=...)`` alone take the turn to the scripted model: the nested
  ``config`` flattened to ``--config`` flags, ``base_url`` as the engine's ``openai_base_url``, the key given by
  logging the engine in, and arriving as the ``Authorization`` header, in no log record, ``repr`` or argv.
* ``CODEX_API_KEY`` and ``CODEX_URL`` fill them when unset; an explicit argument wins over them.
* Raw ``config_overrides`` win over ``config``.
* What cannot be sent is refused, naming the key, before anything starts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_actors import ApprovalMode, Codex, CodexConfig
from codex_actors._binary import build_launch
from codex_actors.testing import RecordedRequest, ScriptedModel, message
from codex_actors.testing._home import SHELL_HOME, offline_env

KEY = "sk-config-sentinel-7c3e9a1b5d"

#: What the offline config.toml would say, as a nested mapping (the built-in provider, given a base_url).
OFFLINE: dict[str, Any] = {
    "model": "gpt-5.5",
    "analytics": {"enabled": False},
    "features": {"plugins": False, "unbounded_connection_retries": False},
    "shell_environment_policy": {"inherit": "core"},
}


def posts(model: ScriptedModel) -> list[RecordedRequest]:
    """The model requests (the built-in provider first tries a WebSocket, which the scripted model refuses)."""
    return [request for request in model.requests if request.method == "POST"]


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel() as scripted:
        yield scripted


@pytest.fixture
def bare_home(tmp_path: Path) -> dict[str, str]:
    """An empty CODEX_HOME (no config.toml) and the offline environment around it."""
    home = tmp_path / "codex-home"
    (home / SHELL_HOME).mkdir(parents=True)
    return offline_env(home)


def test_config_base_url_and_api_key_alone_take_the_turn_to_the_model(
    model: ScriptedModel, bare_home: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="codex_actors")
    model.enqueue(message("configured"))
    config = CodexConfig(env=bare_home, config=OFFLINE, base_url=model.url, api_key=KEY)
    assert not (Path(bare_home["CODEX_HOME"]) / "config.toml").exists()
    with Codex(config) as codex:
        result = codex.thread_start(approval_mode=ApprovalMode.deny_all).run("hello")
    assert result.final_response == "configured"
    (request,) = posts(model)
    assert request.header("authorization") == f"Bearer {KEY}"
    assert request.body["model"] == "gpt-5.5"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name.startswith("codex_"))
    assert logged and KEY not in logged
    assert KEY not in repr(config)
    argv = " ".join(build_launch(config).argv)
    assert KEY not in argv and 'openai_base_url="' in argv and "features.plugins=false" in argv


def test_the_environment_fills_what_the_caller_left_unset_and_an_argument_wins(
    model: ScriptedModel, bare_home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_API_KEY", KEY)
    monkeypatch.setenv("CODEX_URL", model.url)
    model.enqueue(message("from the environment"), message("explicit"))
    with Codex(CodexConfig(env=bare_home, config=OFFLINE)) as codex:
        assert codex.thread_start(approval_mode=ApprovalMode.deny_all).run("a").final_response == (
            "from the environment"
        )
    monkeypatch.setenv("CODEX_URL", "http://127.0.0.1:9/v1")  # nothing listens there: the argument must win
    with Codex(
        CodexConfig(env=bare_home, config=OFFLINE, base_url=model.url, api_key="sk-explicit-0123456789")
    ) as c:
        assert c.thread_start(approval_mode=ApprovalMode.deny_all).run("b").final_response == "explicit"
    assert [r.header("authorization") for r in posts(model)] == [f"Bearer {KEY}", "Bearer sk-explicit-0123456789"]


def test_raw_config_overrides_win_over_config(model: ScriptedModel, bare_home: dict[str, str]) -> None:
    model.enqueue(message("ok"))
    config = CodexConfig(
        env=bare_home,
        config={**OFFLINE, "model": "gpt-4.1"},
        base_url=model.url,
        api_key=KEY,
        config_overrides=('model="gpt-5.5"',),
    )
    with Codex(config) as codex:
        codex.thread_start(approval_mode=ApprovalMode.deny_all).run("which model?")
    assert posts(model)[0].body["model"] == "gpt-5.5"


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"model": None}, r"config\.model: TOML has no null"),
        ({"features": {"x": math.nan}}, r"config\.features\.x: TOML has no nan"),
        ({"model_providers": {"p": {"experimental_bearer_token": "t"}}}, "looks like a secret"),
        ({"a.b": 1}, "a key must be letters"),
        ({"tools": [{"api_key": "t"}]}, "looks like a secret"),
    ],
)
def test_what_cannot_be_sent_is_refused_naming_the_key(config: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        CodexConfig(config=config)


def test_bad_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="api_key must be a non-empty string"):
        CodexConfig(api_key="  ")
    with pytest.raises(TypeError, match="config must be a mapping"):
        CodexConfig(config=[("model", "m")])  # type: ignore[arg-type]
