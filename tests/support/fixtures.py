"""Fixtures (through ``pytest_plugins``): ``no_leaks``, ``offline``, ``debug``; the fake engine's config."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_actors._config import CodexConfig
from codex_actors.testing import OfflineEngine

FAKES = Path(__file__).parent / "fakes"
FAKE_ENGINE = FAKES / "fake_engine.py"


def fake_engine_config(**env: str) -> CodexConfig:
    """A config that launches tests/support/fakes/fake_engine.py with `env` set."""
    return CodexConfig(launch_args_override=(sys.executable, str(FAKE_ENGINE)), env=dict(env) or None)


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a thread, an fd or a child process behind."""
    from tests.support.leaks import assert_nothing_leaked, snapshot

    before = snapshot()
    yield
    assert_nothing_leaked(before)


@pytest.fixture
def offline() -> Iterator[OfflineEngine]:
    """The real engine's offline setup: a scripted model, an isolated CODEX_HOME, a workspace."""
    with OfflineEngine() as engine:
        yield engine


@pytest.fixture
def debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """``caplog``, capturing every ``codex_actors`` logger from DEBUG up."""
    caplog.set_level(logging.DEBUG, logger="codex_actors")
    yield caplog
