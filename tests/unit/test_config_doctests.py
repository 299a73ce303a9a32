"""The doctests of the configuration modules (the layering, the flattening, the environment layer) pass."""

from __future__ import annotations

import doctest
import types

import pytest

import codex_actors._config
import codex_actors._config_layers


@pytest.mark.parametrize("module", [codex_actors._config, codex_actors._config_layers], ids=lambda m: m.__name__)
def test_the_doctests_pass(module: types.ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
