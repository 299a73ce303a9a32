"""The contract suite: every test under ``contract/`` is marked ``contract``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.hermetic import isolate_home

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.add_cleanup(isolate_home())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.contract)
