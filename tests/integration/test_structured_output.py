"""Structured output: `output_type=` sends a strict schema and returns the validated value on `result.parsed`."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pydantic
import pytest

from codex_actors import ApprovalMode, AsyncCodex, Codex, OutputValidationError
from codex_actors._structured import output_schema_for
from codex_actors.models import JsonObject
from codex_actors.testing import OfflineEngine, message, reasoning, reply


class City(pydantic.BaseModel):
    name: str
    population: int


class Answer(pydantic.BaseModel):
    cities: list[City]
    note: str | None = None


@dataclass
class Point:
    x: int
    y: int


def test_the_schema_is_strict_and_closed() -> None:
    schema = output_schema_for(Answer)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["cities", "note"]
    city: Any = schema["$defs"]["City"]  # type: ignore[index, call-overload]
    assert (city["additionalProperties"], city["required"]) == (False, ["name", "population"])
    assert output_schema_for(list[int]) == {"items": {"type": "integer"}, "type": "array"}


def test_run_parses_into_the_model_and_sends_its_schema(offline: OfflineEngine) -> None:
    answer = {"cities": [{"name": "Paris", "population": 2_100_000}], "note": None}
    offline.model.enqueue(message(json.dumps(answer)), message(json.dumps({"x": 1, "y": 2})))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        result = thread.run("largest city?", output_type=Answer)
        assert result.parsed == Answer(cities=[City(name="Paris", population=2_100_000)])
        assert result.final_response == json.dumps(answer)
        point = thread.turn("a point", output_type=Point).run()
        assert point.parsed == Point(1, 2)
    sent = offline.model.requests[0].body["text"]["format"]
    assert sent["type"] == "json_schema"
    assert sent["strict"] is True
    assert sent["schema"] == output_schema_for(Answer)


def test_an_explicit_output_schema_wins_over_the_types(offline: OfflineEngine) -> None:
    schema: JsonObject = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    offline.model.enqueue(message('{"x": 1, "y": 2}'))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        result = thread.run("point", output_schema=schema, output_type=Point)
        assert result.parsed == Point(1, 2)
    assert offline.model.requests[0].body["text"]["format"]["schema"] == schema


def test_a_reply_that_does_not_validate_raises_with_the_raw_text(offline: OfflineEngine) -> None:
    offline.model.enqueue(message('{"cities": "none"}'), reply(reasoning("thinking, no answer")))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        with pytest.raises(OutputValidationError) as info:
            thread.run("cities?", output_type=Answer)
        assert info.value.raw_text == '{"cities": "none"}'
        assert info.value.errors
        assert "is not a valid Answer" in str(info.value)
        with pytest.raises(OutputValidationError, match="no final response") as empty:
            thread.run("again", output_type=Answer)
        assert empty.value.raw_text is None


def test_async_structured_output(offline: OfflineEngine) -> None:
    offline.model.enqueue(message('{"x": 3, "y": 4}'))

    async def scenario() -> Point:
        async with AsyncCodex(offline.config) as codex:
            thread = await codex.thread_start(approval_mode=ApprovalMode.deny_all)
            result = await thread.run("point", output_type=Point)
            assert isinstance(result.parsed, Point)
            return result.parsed

    assert asyncio.run(scenario()) == Point(3, 4)
