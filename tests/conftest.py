"""Shared pytest setup: layer markers by directory, and fixtures for fake and real engines."""

from __future__ import annotations

from pathlib import Path

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
