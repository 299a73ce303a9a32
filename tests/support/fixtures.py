"""Fixtures: fake-engine configs, and the real engine against the scripted model."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import msgspec
import pytest

from codex_actors._config import CodexConfig
from codex_actors._protocol.jsonrpc import ServerNotification
from codex_actors.testing import OfflineEngine

FAKES = Path(__file__).parent / "fakes"
FAKE_ENGINE = FAKES / "fake_engine.py"


def fake_engine_config(**env: str) -> CodexConfig:
    """A config that launches tests/support/fakes/fake_engine.py with `env` set."""
    return CodexConfig(launch_args_override=(sys.executable, str(FAKE_ENGINE)), env=dict(env) or None)


@pytest.fixture
def fake_config() -> Callable[..., CodexConfig]:
    return fake_engine_config


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a thread, an fd or a child process behind."""
    from tests.support.leaks import assert_nothing_leaked, snapshot

    before = snapshot()
    yield
    assert_nothing_leaked(before)


class Collector:
    """A notification sink that keeps everything it gets, decoded, and lets a test wait for a method."""

    def __init__(self) -> None:
        import threading

        self.items: list[tuple[str, dict[str, object]]] = []
        self._cond = threading.Condition()

    def __call__(self, batch: Sequence[ServerNotification]) -> None:
        decoded = [(n.method, msgspec.json.decode(n.params)) for n in batch]
        with self._cond:
            self.items.extend(decoded)
            self._cond.notify_all()

    def methods(self) -> list[str]:
        with self._cond:
            return [method for method, _ in self.items]

    def wait_for(self, method: str, timeout: float = 20.0) -> dict[str, object]:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(m == method for m, _ in self.items), timeout)
            assert ok, f"no {method!r} within {timeout} s; got {[m for m, _ in self.items]}"
            return next(params for m, params in self.items if m == method)


@pytest.fixture
def offline() -> Iterator[OfflineEngine]:
    """The real engine's offline setup: a scripted model, an isolated CODEX_HOME, a workspace."""
    with OfflineEngine() as engine:
        yield engine
