"""The configuration layers: ``merge`` is a right-biased deep merge (associative, idempotent, ``{}`` its
identity, the right side winning on every key), and ``flatten`` writes what ``tomllib`` reads back."""

from __future__ import annotations

import tomllib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from codex_actors._config_layers import flatten, merge

keys = st.text(st.sampled_from("abcdefgh_-"), min_size=1, max_size=4)
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
scalars = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False), texts
)
#: Nested configs whose keys are dotted-path keys (not secrets-looking: the letters cannot spell one).
configs = st.recursive(
    st.dictionaries(keys, scalars, max_size=4),
    lambda inner: st.dictionaries(keys, st.one_of(scalars, inner, st.lists(scalars, max_size=3)), max_size=4),
    max_leaves=16,
)
#: Anything TOML holds under a key, including tables whose keys need quoting.
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=10,
)


@given(configs, configs, configs)
def test_merge_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    assert merge(merge(a, b), c) == merge(a, merge(b, c)) == merge(a, b, c)


@given(configs)
def test_merge_is_idempotent_and_the_empty_layer_is_its_identity(a: dict[str, Any]) -> None:
    assert merge(a, a) == merge(a) == merge({}, a) == merge(a, {}) == a


@given(configs, configs)
def test_the_right_side_wins_on_every_key(a: dict[str, Any], b: dict[str, Any]) -> None:
    merged = merge(a, b)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(a.get(key), dict):
            assert merged[key] == merge(a[key], value)
        else:
            assert merged[key] == value
    for key in a.keys() - b.keys():
        assert merged[key] == a[key]


def unflatten(flags: list[str]) -> dict[str, Any]:
    """Each ``dotted.key=<TOML>`` parsed back (the value with tomllib), nested by its path."""
    result: dict[str, Any] = {}
    for flag in flags:
        path, _, text = flag.partition("=")
        value = tomllib.loads(f"v = {text}")["v"]
        *parents, last = path.split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return result


@given(configs)
def test_flatten_then_parse_each_value_with_tomllib_gives_the_config_back(config: dict[str, Any]) -> None:
    assert unflatten(flatten(config)) == config


@given(keys, values)
def test_a_value_of_any_shape_is_written_whole_when_its_keys_need_quoting(key: str, value: Any) -> None:
    assert unflatten(flatten({key: value})) == {key: value}
