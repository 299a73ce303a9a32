"""Client-side Python tools: ``@tool`` makes a function a tool the model can call.

A tool is announced to the engine on ``thread/start`` (``dynamicTools``: its name, description and input JSON
schema, see :meth:`Tool.spec`) and answered by the client when the model calls it (the engine's
``item/tool/call``, answered by the runtime's tool registry):

* **Name** and **description**: the function's ``__name__`` and docstring, unless given.
* **Input schema**: from the parameters' type hints, through pydantic (a model made with
  :func:`pydantic.create_model`): ``int``, ``str``, ``list[float]``, ``Literal[...]``, enums, dataclasses,
  pydantic models, ``Annotated[int, Field(ge=0, description=...)]``; a parameter with a default is optional;
  one without a hint takes any JSON. Extra arguments are refused (``additionalProperties: false``). The
  arguments of a call are validated by the same model, and handed to the function converted (a pydantic
  model parameter gets an instance). A parameter annotated :class:`ToolContext` is not part of the schema: it
  gets the call's thread, turn and call ids.
* **Handler**: a plain function (run on one of the runtime's worker threads) or an ``async def`` (run on the
  runtime's tool event loop), within ``timeout_s`` seconds.
* **Output** (:func:`tool_output`): a ``str`` is one text item; a :class:`ToolResult` its items (text and
  :class:`ToolImage`) and its ``success``; a :class:`ToolImage` one image item; anything else (numbers,
  dicts, lists, pydantic models, dataclasses, ``None``) its JSON text.

The decorated object is still the function: ``add(1, 2) == 3`` (an ``async`` tool returns its coroutine).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import inspect
import math
import mimetypes
import re
import typing
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, overload

import pydantic
import pydantic_core
from pydantic.json_schema import GenerateJsonSchema

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "InvalidArgumentsError",
    "Tool",
    "ToolContext",
    "ToolImage",
    "ToolResult",
    "tool",
    "tool_output",
]

#: Seconds a tool call may take unless its ``@tool(timeout_s=...)`` says otherwise.
DEFAULT_TIMEOUT_S = 60.0

#: What the engine (and the Responses API behind it) accepts as a function name.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclasses.dataclass(frozen=True, slots=True)
class ToolContext:
    """Which call this is: give a tool's parameter this type to get it (it is not part of the input schema)."""

    thread_id: str
    turn_id: str
    call_id: str
    #: The tool's name, as the model called it.
    tool: str


@dataclasses.dataclass(frozen=True, slots=True)
class ToolImage:
    """An image a tool returns to the model, as a URL: ``https://...`` or a ``data:`` URL.

    :meth:`from_file` and :meth:`from_bytes` make the data URL of a local image.
    """

    url: str

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str = "image/png") -> ToolImage:
        """The image ``data`` (encoded as ``mime_type``), as a data URL."""
        return cls(f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}")

    @classmethod
    def from_file(cls, path: str | PathLike[str], mime_type: str | None = None) -> ToolImage:
        """The image file at ``path``, read now, as a data URL (its type guessed from its name unless given)."""
        file = Path(path)
        guessed = mime_type or mimetypes.guess_type(file.name)[0]
        if guessed is None or not guessed.startswith("image/"):
            raise ValueError(f"{file.name!r} is not a known image type: give mime_type")
        return cls.from_bytes(file.read_bytes(), guessed)

    def item(self) -> dict[str, Any]:
        """The wire content item (``inputImage``)."""
        return {"type": "inputImage", "imageUrl": self.url}


@dataclasses.dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returns when a plain value is not enough: several items, images, or a failure.

    ``content`` is a string, a :class:`ToolImage`, or a sequence of both (text and image items);
    ``success=False`` tells the model the call failed (the content says why).
    """

    content: str | ToolImage | Sequence[str | ToolImage] = ()
    success: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.content, str | ToolImage):
            object.__setattr__(self, "content", (self.content,))
        else:
            object.__setattr__(self, "content", tuple(self.content))
        for index, part in enumerate(typing.cast(tuple[Any, ...], self.content)):
            if not isinstance(part, str | ToolImage):
                raise TypeError(f"ToolResult.content[{index}]: expected a str or a ToolImage, got {part!r}")

    def items(self) -> list[dict[str, Any]]:
        """The wire content items (``inputText`` and ``inputImage``)."""
        return [
            {"type": "inputText", "text": part} if isinstance(part, str) else part.item()
            for part in typing.cast(tuple[str | ToolImage, ...], self.content)
        ]


class InvalidArgumentsError(ValueError):
    """The model called a tool with arguments its schema refuses; the message says what to fix."""


class _NoTitles(GenerateJsonSchema):
    """pydantic's JSON schema without the generated titles (noise to a model: the names say it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: Any, mode: Any = "validation") -> Any:
        generated = super().generate(schema, mode)
        generated.pop("title", None)
        return generated


class Tool:
    """A Python function the model can call: its name, description, input JSON schema and timeout.

    Made by :func:`tool`. Calling it calls the function.
    """

    #: The function itself.
    fn: Callable[..., Any]

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if isinstance(fn, Tool):
            fn = fn.fn
        if not callable(fn):
            raise TypeError(f"@tool needs a function, got {fn!r}")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", "")
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"a tool's name must be 1-64 letters, digits, '_' or '-', got {self.name!r}")
        doc = description if description is not None else inspect.getdoc(fn)
        self.description = (doc or "").strip()
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 < timeout_s < math.inf:
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        #: Whether the handler is an ``async def`` (run on the event loop) rather than a plain function.
        self.is_async = inspect.iscoroutinefunction(fn)
        self._params, self._model = _arguments_model(fn, self.name)
        #: Whether a parameter takes the call's :class:`ToolContext`.
        self.takes_context = any(field is None for _, field, _ in self._params)
        #: The JSON schema of the arguments (pydantic's, without generated titles).
        self.input_schema: dict[str, Any] = _schema(self._model)
        functools.update_wrapper(self, fn)

    def spec(self) -> dict[str, Any]:
        """The ``dynamicTools`` entry announcing this tool on ``thread/start``."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function itself."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Tool {getattr(self, 'name', '?')!r}>"

    def bind(self, arguments: Any, context: ToolContext | None = None) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The ``(args, kwargs)`` to call the function with, from a call's JSON ``arguments``.

        Raises :class:`InvalidArgumentsError` (its message written for the model) if the schema refuses them.
        """
        if arguments is None:
            arguments = {}
        try:
            validated = self._model.model_validate(arguments)
        except pydantic.ValidationError as exc:
            raise InvalidArgumentsError(_explain(self.name, exc)) from None
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param, field, positional in self._params:
            if field is None:  # the ToolContext parameter
                if context is None:
                    raise TypeError(f"tool {self.name!r} takes a ToolContext ({param!r}) and none was given")
                value: Any = context
            else:
                value = getattr(validated, field)  # a missing optional argument: the parameter's default
            if positional:
                args.append(value)
            else:
                kwargs[param] = value
        return tuple(args), kwargs


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make ``fn`` a tool: ``@tool`` or ``@tool(name=..., description=..., timeout_s=...)``.

    Raises ``ValueError`` for a bad name or timeout and ``TypeError`` for a signature a schema cannot be made
    of (``*args``/``**kwargs``, a type hint that cannot be resolved or turned into JSON schema).
    """
    if fn is not None:
        return Tool(fn, name=name, description=description, timeout_s=timeout_s)

    def decorate(function: Callable[..., Any]) -> Tool:
        return Tool(function, name=name, description=description, timeout_s=timeout_s)

    return decorate


def tool_output(value: Any) -> tuple[list[dict[str, Any]], bool]:
    """A handler's return value as the call's answer: ``(contentItems, success)``.

    Raises ``TypeError`` if ``value`` is none of the kinds a tool may return (it cannot be made JSON).
    """
    if isinstance(value, ToolResult):
        return value.items(), value.success
    if isinstance(value, str):
        return [{"type": "inputText", "text": value}], True
    if isinstance(value, ToolImage):
        return [value.item()], True
    try:
        text = pydantic_core.to_json(value).decode("utf-8")
    except pydantic_core.PydanticSerializationError as exc:
        raise TypeError(f"the tool returned {type(value).__name__}, which is not JSON: {exc}") from None
    return [{"type": "inputText", "text": text}], True


# -- the arguments model ------------------------------------------------------------------------------------------


def _arguments_model(
    fn: Callable[..., Any], tool_name: str
) -> tuple[list[tuple[str, str | None, bool]], type[pydantic.BaseModel]]:
    """The function's parameters as a pydantic model.

    Returns, in the signature's order, ``(parameter, field, positional-only)`` (``field`` is ``None`` for the
    :class:`ToolContext` parameter), and the model. Fields are named ``p0``, ``p1``... with the parameter's
    name as alias, so that any parameter name works (``json``, ``model_config``, ``_private``...).
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"tool {tool_name!r}: cannot read the function's signature: {exc}") from None
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError for a hint naming what the module does not define, and others
        raise TypeError(
            f"tool {tool_name!r}: cannot resolve its type hints ({exc}); "
            "define the types they name at module level"
        ) from None
    fields: dict[str, Any] = {}
    params: list[tuple[str, str | None, bool]] = []
    for index, param in enumerate(signature.parameters.values()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {tool_name!r}: *args and **kwargs cannot be described to the model")
        hint = hints.get(param.name, Any)
        positional = param.kind is param.POSITIONAL_ONLY
        if hint is ToolContext:
            params.append((param.name, None, positional))
            continue
        field = f"p{index}"
        default = ... if param.default is param.empty else param.default
        fields[field] = (hint, pydantic.Field(default, alias=param.name))
        params.append((param.name, field, positional))
    try:
        model = pydantic.create_model(
            f"{tool_name}_arguments",
            __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **fields,
        )
        _schema(model)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise TypeError(f"tool {tool_name!r}: its parameters cannot be made a JSON schema: {exc}") from None
    return params, model


def _schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(by_alias=True, schema_generator=_NoTitles)


def _explain(tool_name: str, error: pydantic.ValidationError) -> str:
    """A validation error as a message the model can act on: what is wrong with which argument."""
    problems: list[str] = []
    for detail in error.errors(include_url=False):
        where = ".".join(str(part) for part in detail["loc"])
        kind = detail["type"]
        if not where:
            problem = "the arguments must be a JSON object"
        elif kind == "missing":
            problem = f"{where}: missing (a required argument)"
        elif kind == "extra_forbidden":
            problem = f"{where}: not an argument of this tool"
        else:
            shown = repr(detail.get("input"))
            problem = f"{where}: {detail['msg']} (got {shown[:80] + '...' if len(shown) > 80 else shown})"
        problems.append(problem)
    listed = "; ".join(problems)
    return f"invalid arguments for tool {tool_name!r}: {listed}. Call it again with arguments its schema allows."
