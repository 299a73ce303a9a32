"""``@tool``: a function's name, docstring and type hints become a tool's spec; its arguments are validated.

The schema is pydantic's (from the signature), without generated titles, with ``additionalProperties: false``;
a ``ToolContext`` parameter is not in it. ``bind`` validates a call's JSON arguments with the same model and
gives the function converted values (a pydantic model, an enum, defaults for what is absent), or an
``InvalidArgumentsError`` whose message names each bad argument. ``tool_output`` turns what a handler returns
into content items. The decorated object stays the function.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import pytest

from codex_actors._tool import (
    DEFAULT_TIMEOUT_S,
    InvalidArgumentsError,
    Tool,
    ToolContext,
    ToolImage,
    ToolResult,
    tool,
    tool_output,
)


class Point(pydantic.BaseModel):
    x: int
    y: int = 0


class Color(enum.Enum):
    red = "red"
    blue = "blue"


@dataclass
class Box:
    width: float
    height: float


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    The sum, as a number.
    """
    return a + b


@tool(name="paint", description="Paint a point.", timeout_s=2.5)
async def paint_point(point: Point, color: Color = Color.red, *, alpha: float = 1.0) -> str:
    """Not the description."""
    await asyncio.sleep(0)
    return f"{point.x},{point.y} {color.value} {alpha}"


CONTEXT = ToolContext("thr", "turn", "call_1", "where")


@tool
def where(place: str, context: ToolContext) -> str:
    """Where the call came from."""
    return f"{place} {context.thread_id}"


# -- the decorator --------------------------------------------------------------------------------------------


def test_the_decorated_function_is_still_the_function() -> None:
    assert isinstance(add, Tool)
    assert add(1, 2) == 3
    assert add.__name__ == "add" and add.__wrapped__(2, 3) == 5  # type: ignore[attr-defined]
    assert inspect.iscoroutine(coroutine := paint_point(Point(x=1)))
    assert asyncio.run(coroutine) == "1,0 red 1.0"
    assert not add.is_async and paint_point.is_async


def test_name_description_and_timeout_come_from_the_function_unless_given() -> None:
    assert (add.name, add.timeout_s) == ("add", DEFAULT_TIMEOUT_S)
    assert add.description == "Add two integers.\n\nThe sum, as a number."
    assert (paint_point.name, paint_point.description, paint_point.timeout_s) == ("paint", "Paint a point.", 2.5)


def test_the_spec_is_the_dynamic_tools_entry_with_the_schema_from_the_type_hints() -> None:
    assert add.spec() == {
        "type": "function",
        "name": "add",
        "description": "Add two integers.\n\nThe sum, as a number.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
            "additionalProperties": False,
        },
    }
    schema = paint_point.input_schema
    assert schema["required"] == ["point"]
    assert schema["properties"]["point"] == {"$ref": "#/$defs/Point"}
    assert schema["$defs"]["Point"]["required"] == ["x"]
    assert schema["properties"]["color"]["default"] == "red"
    assert schema["properties"]["alpha"] == {"type": "number", "default": 1.0}


def test_annotations_constraints_literals_optionals_dataclasses_and_untyped_parameters() -> None:
    @tool
    def rich(  # type: ignore[no-untyped-def]
        count: Annotated[int, pydantic.Field(ge=1, description="How many.")],
        mode: Literal["fast", "slow"],
        box: Box,
        note: str | None = None,
        anything=None,
    ) -> None:
        """Rich."""

    properties = rich.input_schema["properties"]
    assert properties["count"] == {"type": "integer", "minimum": 1, "description": "How many."}
    assert properties["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert properties["box"] == {"$ref": "#/$defs/Box"}
    assert properties["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert properties["anything"] == {"default": None}
    assert rich.input_schema["required"] == ["count", "mode", "box"]
    assert "title" not in str(properties)


def test_a_tool_context_parameter_is_not_in_the_schema_and_gets_the_call() -> None:
    assert list(where.input_schema["properties"]) == ["place"]
    assert where.takes_context and not add.takes_context
    args, kwargs = where.bind({"place": "here"}, CONTEXT)
    assert where(*args, **kwargs) == "here thr"


def test_any_parameter_name_works_and_positional_only_ones_are_passed_by_position() -> None:
    @tool
    def odd(json: str, model_config: int, _private: bool, /, schema: float = 0.5) -> str:
        """Names pydantic's models would not take as fields."""
        return f"{json} {model_config} {_private} {schema}"

    assert list(odd.input_schema["properties"]) == ["json", "model_config", "_private", "schema"]
    args, kwargs = odd.bind({"json": "j", "model_config": 2, "_private": True})
    assert (args, kwargs) == (("j", 2, True), {"schema": 0.5})
    assert odd(*args, **kwargs) == "j 2 True 0.5"


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: tool(name="t")(lambda *args: None), TypeError, r"\*args"),
        (lambda: tool(name="t")(lambda **kwargs: None), TypeError, r"\*\*kwargs"),
        (lambda: tool(name="has space")(lambda: None), ValueError, "name"),
        (lambda: tool(name="x" * 65)(lambda: None), ValueError, "name"),
        (lambda: tool(lambda: None), ValueError, "<lambda>"),
        (lambda: tool(name="t", timeout_s=0)(lambda: None), ValueError, "timeout_s"),
        (lambda: tool(name="t", timeout_s=float("inf"))(lambda: None), ValueError, "timeout_s"),
        (lambda: Tool(42), TypeError, "function"),  # type: ignore[arg-type]
    ],
)
def test_what_cannot_be_a_tool_is_refused_when_decorated(make: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_a_hint_that_cannot_be_resolved_or_made_json_schema_is_refused_naming_the_tool() -> None:
    def unresolved(x: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
        """Its hint names nothing."""

    with pytest.raises(TypeError, match=r"'unresolved'.*type hints"):
        tool(unresolved)

    def opaque(x: Opaque) -> None:
        """A lock is no JSON."""

    with pytest.raises(TypeError, match=r"'opaque'.*JSON schema"):
        tool(opaque)


class Opaque:
    """A class pydantic knows nothing of."""


# -- validating a call's arguments ----------------------------------------------------------------------------


def test_valid_arguments_are_converted_to_the_parameters_types() -> None:
    args, kwargs = paint_point.bind({"point": {"x": 3}, "color": "blue"})
    assert args == ()
    assert kwargs == {"point": Point(x=3, y=0), "color": Color.blue, "alpha": 1.0}
    assert add.bind({"a": "4", "b": 5.0}) == ((), {"a": 4, "b": 5})  # pydantic's lax mode


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"a": 1}, "b: missing (a required argument)"),
        (
            {"a": "one", "b": 2},
            "a: Input should be a valid integer, unable to parse string as an integer (got 'one')",
        ),
        ({"a": 1, "b": 2, "c": 3}, "c: not an argument of this tool"),
        ([1, 2], "the arguments must be a JSON object"),
        ("a=1", "the arguments must be a JSON object"),
    ],
)
def test_invalid_arguments_get_a_message_naming_each_problem(arguments: Any, expected: str) -> None:
    with pytest.raises(InvalidArgumentsError) as info:
        add.bind(arguments)
    message = str(info.value)
    assert message.startswith("invalid arguments for tool 'add': ")
    assert expected in message
    assert message.endswith("Call it again with arguments its schema allows.")


def test_nested_problems_name_their_path_and_long_values_are_cut() -> None:
    with pytest.raises(InvalidArgumentsError) as info:
        paint_point.bind({"point": {"x": "x" * 500}, "color": "green"})
    message = str(info.value)
    assert "point.x: Input should be a valid integer" in message
    assert "color: Input should be 'red' or 'blue'" in message
    assert len(message) < 400


def test_no_arguments_at_all_is_an_empty_object() -> None:
    @tool
    def ping() -> str:
        """Ping."""
        return "pong"

    assert ping.bind(None) == ((), {})
    assert ping.input_schema == {"type": "object", "properties": {}, "additionalProperties": False}


# -- what a handler returns -----------------------------------------------------------------------------------


class Answer(pydantic.BaseModel):
    value: int


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        (None, "null"),
        ({"a": [1, "b"]}, '{"a":[1,"b"]}'),
        ([1, 2], "[1,2]"),
        (Answer(value=7), '{"value":7}'),
        (Box(1.5, 2), '{"width":1.5,"height":2}'),
        (Color.blue, '"blue"'),
    ],
)
def test_other_values_are_their_json_text(value: Any, text: str) -> None:
    assert tool_output(value) == ([{"type": "inputText", "text": text}], True)


def test_a_string_is_one_text_item_and_an_image_one_image_item() -> None:
    assert tool_output("plain text") == ([{"type": "inputText", "text": "plain text"}], True)
    image = ToolImage("https://example.com/a.png")
    assert tool_output(image) == ([{"type": "inputImage", "imageUrl": "https://example.com/a.png"}], True)


def test_a_tool_result_gives_its_items_and_success(tmp_path: Path) -> None:
    png = tmp_path / "dot.png"
    png.write_bytes(b"\x89PNG fake")
    result = ToolResult(["two items:", ToolImage.from_file(png)], success=False)
    items, success = tool_output(result)
    assert success is False
    assert items == [
        {"type": "inputText", "text": "two items:"},
        {"type": "inputImage", "imageUrl": "data:image/png;base64,iVBORyBmYWtl"},
    ]
    assert tool_output(ToolResult("one")) == ([{"type": "inputText", "text": "one"}], True)
    assert ToolImage.from_bytes(b"GIF", "image/gif").url == "data:image/gif;base64,R0lG"


def test_what_is_no_tool_output_is_refused() -> None:
    with pytest.raises(TypeError, match="not JSON"):
        tool_output(object())
    with pytest.raises(TypeError, match=r"content\[1\]"):
        ToolResult(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="mime_type"):
        ToolImage.from_file("notes.txt")
