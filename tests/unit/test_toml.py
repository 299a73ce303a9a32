"""TOML literals for ``--config`` values: whatever :func:`literal` writes, ``tomllib`` reads back as the value."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_actors._toml import key, literal

#: Strings TOML can hold: any text that is UTF-8 (no lone surrogates).
texts = st.text(st.characters(exclude_categories=["Cs"]))
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def read(text: str) -> Any:
    return tomllib.loads(f"v = {text}")["v"]


@given(values)
def test_a_literal_reads_back_as_the_value(value: Any) -> None:
    assert read(literal(value)) == value


@given(texts)
def test_a_key_reads_back_as_the_name(name: str) -> None:
    assert list(tomllib.loads(f"{key(name)} = 1")) == [name]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", '"plain"'),
        ('quote " and \\ back', '"quote \\" and \\\\ back"'),
        ("tab\tnew\nline\x7fdel\x00", '"tab\\tnew\\nline\\u007fdel\\u0000"'),
        ({}, "{}"),
        ({"a b": [1, 2.5, True]}, '{"a b" = [1, 2.5, true]}'),
        ([{"x": 1}], "[{x = 1}]"),
    ],
)
def test_literals_look_as_toml_writes_them(value: Any, text: str) -> None:
    assert literal(value) == text


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "no null"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        ("\ud800", "UTF-8"),
        ({1: "x"}, "key must be a string"),
        (b"bytes", "cannot hold a bytes"),
        (object(), "cannot hold"),
    ],
)
def test_what_toml_cannot_hold_is_refused(value: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        literal(value)
