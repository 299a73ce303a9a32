"""Structured output: ask the model for JSON matching a type, and get back a validated instance.

``thread.run(..., output_type=Model)`` sends ``Model``'s JSON schema as the turn's ``outputSchema`` (made strict:
every object closed with ``additionalProperties: false`` and every property required, as the Responses API's
strict mode expects) and puts ``Model.model_validate_json(final_response)`` on ``result.parsed``. Any type
pydantic can validate works (a ``BaseModel``, a dataclass, ``list[int]``...). A final response that does not
validate raises :class:`~codex_actors.errors.OutputValidationError` carrying the raw text.
"""

from __future__ import annotations

import copy
import dataclasses
from functools import cache
from typing import Any

import pydantic

from ._results import TurnResult, result_or_raise
from .errors import OutputValidationError
from .models import JsonObject

__all__ = ["output_schema_for", "output_schema_of", "parse_output", "run_result"]


@cache
def _adapter(output_type: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(output_type)


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
            schema["required"] = list(schema["properties"])
        return schema
    if isinstance(schema, list):
        return [_strict(value) for value in schema]
    return schema


def output_schema_for(output_type: Any) -> JsonObject:
    """The strict JSON schema of ``output_type``."""
    schema = _adapter(output_type).json_schema()
    strict: JsonObject = _strict(copy.deepcopy(schema))
    return strict


def output_schema_of(output_schema: JsonObject | None, output_type: Any) -> JsonObject | None:
    """The ``outputSchema`` a turn sends: the one given, else ``output_type``'s (see :func:`output_schema_for`)."""
    if output_schema is None and output_type is not None:
        return output_schema_for(output_type)
    return output_schema


def parse_output(output_type: Any, text: str | None) -> Any:
    """Validate the final response against ``output_type``; :class:`OutputValidationError` when it fails."""
    name = getattr(output_type, "__name__", repr(output_type))
    if text is None:
        raise OutputValidationError(f"the turn produced no final response to parse as {name}", raw_text=None)
    try:
        return _adapter(output_type).validate_json(text)
    except pydantic.ValidationError as exc:
        raise OutputValidationError(
            f"the final response is not a valid {name}: {exc.error_count()} error(s)",
            raw_text=text,
            errors=exc.errors(include_url=False),
        ) from exc


def run_result(assembled: TurnResult, output_type: Any = None) -> TurnResult:
    """What ``run()`` returns, from the result the thread actor assembled once for every reader.

    A copy for this caller (so ``parsed`` is its own); a failed turn raises ``RuntimeError`` with its message;
    with ``output_type``, the final response validated into ``parsed`` (or :class:`OutputValidationError`).
    """
    result = result_or_raise(dataclasses.replace(assembled, items=list(assembled.items)))
    if output_type is not None:
        result.parsed = parse_output(output_type, result.final_response)
    return result
