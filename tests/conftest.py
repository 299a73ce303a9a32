"""Shared pytest setup: layer markers by directory, fixtures for fake and real engines, and no actor left running.

An actor a test leaves running (pykka's threads are not daemons by default) would keep the interpreter from
exiting after the last test: the session's end stops every one still registered, and fails the run naming them.
"""

from __future__ import annotations

from pathlib import Path

import pykka
import pytest

from tests.support.hermetic import isolate_home

pytest_plugins = ["tests.support.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    config.add_cleanup(isolate_home())


_LAYER_BY_DIR = {
    "unit": "unit",
    "integration": "integration",
    "faults": "faults",
    "property": "property",
    "live": "live",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for part, marker in _LAYER_BY_DIR.items():
            if part in parts:
                item.add_marker(getattr(pytest.mark, marker))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = pykka.ActorRegistry.get_all()
    if left:
        pykka.ActorRegistry.stop_all(timeout=10)
        names = ", ".join(sorted({ref.actor_class.__name__ for ref in left}))
        print(f"\nactors left running after the tests (stopped now): {len(left)}: {names}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
