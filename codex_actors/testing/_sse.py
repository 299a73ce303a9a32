"""Builders of scripted model replies: Responses-API Server-Sent Events, as the Codex engine reads them.

A :class:`Reply` is one answer to one ``POST /v1/responses``: an ordered sequence of *steps* that becomes one
SSE stream (an ``event:`` line and a ``data:`` line per event). It always starts with ``response.created``
and ends with ``response.completed`` (carrying :class:`Usage`), unless a :func:`failed` step ends it with
``response.failed``.
An :class:`HttpError` is the other kind of answer: a plain HTTP error status with a JSON body, no SSE at all.

Everything here is pure data: building a reply does no I/O. Ids left unset (``call_id``, item ids, the
response id) are filled in by :meth:`Reply.resolve`, which :class:`~codex_actors.testing.ScriptedModel` calls
when a reply is queued, so ids are unique and deterministic for each model instance (``call_1``, ``call_2``...).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = [
    "CustomToolCall",
    "Delay",
    "Event",
    "Failed",
    "FunctionCall",
    "Gate",
    "HttpError",
    "IdAllocator",
    "Message",
    "OutputItem",
    "Reasoning",
    "Reply",
    "ReplyLike",
    "Step",
    "StreamedMessage",
    "Usage",
    "apply_patch",
    "as_reply",
    "delay",
    "encode_event",
    "event",
    "exec_command",
    "failed",
    "http_error",
    "message",
    "output_item",
    "reasoning",
    "reply",
    "streamed_message",
    "tool_call",
]

Json: TypeAlias = dict[str, Any]


class IdAllocator:
    """Hands out ids such as ``call_1``, ``call_2``, ``msg_1``: one counter per prefix, thread-safe."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def next(self, prefix: str) -> str:
        """Return the next id for ``prefix`` (``f"{prefix}_{n}"``, counting from 1)."""
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            return f"{prefix}_{next(counter)}"


def encode_event(payload: Mapping[str, Any]) -> bytes:
    """Frame one event payload (it has a ``type``) as SSE: an ``event:`` line, a ``data:`` line, a blank line."""
    event_type = payload["type"]
    data = json.dumps(payload, separators=(",", ":"))
    return f"event: {event_type}\ndata: {data}\n\n".encode()


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage reported by ``response.completed``; ``total_tokens`` defaults to input + output."""

    input_tokens: int = 10
    cached_tokens: int = 0
    output_tokens: int = 5
    reasoning_tokens: int = 0
    total_tokens: int | None = None

    def to_json(self) -> Json:
        """The ``usage`` object as the Responses API sends it."""
        total = self.input_tokens + self.output_tokens if self.total_tokens is None else self.total_tokens
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": total,
        }


# ---------------------------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True, slots=True)
class Event:
    """One raw SSE event, sent as given: the escape hatch for shapes no builder covers."""

    type: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, ids: IdAllocator) -> Event:
        """Nothing to fill in; returns itself."""
        return self

    def events(self) -> list[Json]:
        """The event payload: ``{"type": type, **data}``."""
        return [{"type": self.type, **self.data}]


@dataclass(frozen=True, slots=True)
class OutputItem:
    """Any output item, sent as one ``response.output_item.done`` (e.g. a ``web_search_call``)."""

    item: Mapping[str, Any]

    def resolve(self, ids: IdAllocator) -> OutputItem:
        """Nothing to fill in; returns itself."""
        return self

    def events(self) -> list[Json]:
        """One ``response.output_item.done`` carrying the item."""
        return [_item_done(dict(self.item))]


@dataclass(frozen=True, slots=True)
class Message:
    """An assistant message, sent whole as one ``response.output_item.done``."""

    text: str
    phase: str | None = None
    item_id: str | None = None

    def resolve(self, ids: IdAllocator) -> Message:
        """Fill in the item id (``msg_N``) if unset."""
        return self if self.item_id else dataclasses.replace(self, item_id=ids.next("msg"))

    def item(self) -> Json:
        """The ``message`` output item."""
        return _message_item(self.item_id, self.text, self.phase)

    def events(self) -> list[Json]:
        """One ``response.output_item.done``."""
        return [_item_done(self.item())]


@dataclass(frozen=True, slots=True)
class StreamedMessage:
    """An assistant message streamed in chunks: item added, one text delta per chunk, item done."""

    chunks: tuple[str, ...]
    phase: str | None = None
    item_id: str | None = None

    @property
    def text(self) -> str:
        """The whole text (the chunks joined)."""
        return "".join(self.chunks)

    def resolve(self, ids: IdAllocator) -> StreamedMessage:
        """Fill in the item id (``msg_N``) if unset."""
        return self if self.item_id else dataclasses.replace(self, item_id=ids.next("msg"))

    def events(self) -> list[Json]:
        """``output_item.added`` → ``output_text.delta`` per chunk → ``output_item.done``."""
        added = _message_item(self.item_id, "", self.phase)
        out: list[Json] = [{"type": "response.output_item.added", "item": added}]
        out.extend(
            {"type": "response.output_text.delta", "item_id": self.item_id, "delta": chunk}
            for chunk in self.chunks
        )
        out.append(_item_done(_message_item(self.item_id, self.text, self.phase)))
        return out


@dataclass(frozen=True, slots=True)
class Reasoning:
    """A reasoning item whose summary is shown as the model's reasoning."""

    summary: str
    item_id: str | None = None

    def resolve(self, ids: IdAllocator) -> Reasoning:
        """Fill in the item id (``rs_N``) if unset."""
        return self if self.item_id else dataclasses.replace(self, item_id=ids.next("rs"))

    def events(self) -> list[Json]:
        """One ``response.output_item.done`` with ``summary: [{type: summary_text, text}]``."""
        item: Json = {
            "type": "reasoning",
            "id": self.item_id,
            "summary": [{"type": "summary_text", "text": self.summary}],
        }
        return [_item_done(item)]


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A ``function_call`` item: a built-in tool such as ``exec_command``, or a client-side tool."""

    name: str
    arguments: str
    call_id: str | None = None
    namespace: str | None = None

    def resolve(self, ids: IdAllocator) -> FunctionCall:
        """Fill in the call id (``call_N``) if unset."""
        return self if self.call_id else dataclasses.replace(self, call_id=ids.next("call"))

    def events(self) -> list[Json]:
        """One ``response.output_item.done``."""
        item: Json = {
            "type": "function_call",
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
        }
        if self.namespace is not None:
            item["namespace"] = self.namespace
        return [_item_done(item)]


@dataclass(frozen=True, slots=True)
class CustomToolCall:
    """A ``custom_tool_call`` item (freeform input), such as ``apply_patch``."""

    name: str
    input: str
    call_id: str | None = None

    def resolve(self, ids: IdAllocator) -> CustomToolCall:
        """Fill in the call id (``call_N``) if unset."""
        return self if self.call_id else dataclasses.replace(self, call_id=ids.next("call"))

    def events(self) -> list[Json]:
        """One ``response.output_item.done``."""
        item: Json = {
            "type": "custom_tool_call",
            "call_id": self.call_id,
            "name": self.name,
            "input": self.input,
        }
        return [_item_done(item)]


@dataclass(frozen=True, slots=True)
class Delay:
    """A pause of ``seconds`` between two events of the stream."""

    seconds: float

    def resolve(self, ids: IdAllocator) -> Delay:
        """Nothing to fill in; returns itself."""
        return self


class Gate:
    """A point where a stream waits until the test calls :meth:`open`.

    Put the gate among a reply's steps: the server sends every event before it, sets :attr:`reached`, then holds
    the stream until :meth:`open` is called, the model is closed, or ``timeout`` seconds pass (then it goes on
    and :attr:`timed_out` is true), so a forgotten gate never hangs a test forever. A gate opened before it is
    reached does not hold at all. Gates compare by identity.
    """

    __slots__ = ("_opened", "reached", "timed_out", "timeout")

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        #: Set once a stream has sent everything before the gate and started waiting.
        self.reached = threading.Event()
        #: True if a stream stopped waiting because ``timeout`` passed.
        self.timed_out = False
        self._opened = threading.Event()

    def open(self) -> None:
        """Let the held stream (and any later one) go on."""
        self._opened.set()

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` was called."""
        return self._opened.is_set()

    def wait_reached(self, timeout: float = 5.0) -> None:
        """Block until a stream reached the gate; raise :class:`TimeoutError` after ``timeout`` seconds."""
        if not self.reached.wait(timeout):
            raise TimeoutError(f"no scripted stream reached the gate within {timeout} s")

    def resolve(self, ids: IdAllocator) -> Gate:
        """Nothing to fill in; returns itself."""
        return self

    def hold(self, abort: threading.Event, *, poll: float = 0.02) -> bool:
        """Mark the gate reached and wait; return False if ``abort`` was set (the stream should stop).

        This is what the server calls; tests use :meth:`open` and :attr:`reached`.
        """
        self.reached.set()
        deadline = time.monotonic() + self.timeout
        while not self._opened.is_set():
            if abort.is_set():
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                return True
            self._opened.wait(min(poll, remaining))
        return not abort.is_set()

    def __repr__(self) -> str:
        state = "open" if self.is_open else ("reached" if self.reached.is_set() else "closed")
        return f"Gate(timeout={self.timeout!r}, {state})"


@dataclass(frozen=True, slots=True)
class Failed:
    """Ends the stream with ``response.failed`` instead of ``response.completed``: the turn fails."""

    message: str
    code: str = "server_error"

    def resolve(self, ids: IdAllocator) -> Failed:
        """Nothing to fill in; returns itself."""
        return self


#: One element of a :class:`Reply`.
Step: TypeAlias = (
    Event
    | OutputItem
    | Message
    | StreamedMessage
    | Reasoning
    | FunctionCall
    | CustomToolCall
    | Delay
    | Gate
    | Failed
)

_STEP_TYPES = (
    Event,
    OutputItem,
    Message,
    StreamedMessage,
    Reasoning,
    FunctionCall,
    CustomToolCall,
    Delay,
    Gate,
    Failed,
)


# ---------------------------------------------------------------------------------------------------------------
# Replies


@dataclass(frozen=True, slots=True)
class Reply:
    """One SSE answer: ``response.created``, the steps in order, then ``response.completed`` (or ``failed``)."""

    steps: tuple[Step, ...] = ()
    usage: Usage = field(default_factory=Usage)
    response_id: str | None = None

    def __post_init__(self) -> None:
        for index, step in enumerate(self.steps):
            if not isinstance(step, _STEP_TYPES):
                hint = " (an HttpError is a whole reply: enqueue it alone)" if isinstance(step, HttpError) else ""
                raise TypeError(f"not a reply step: {step!r}{hint}")
            if isinstance(step, Failed) and index != len(self.steps) - 1:
                raise ValueError("failed(...) ends the stream: it must be the last step of a reply")

    @property
    def failure(self) -> Failed | None:
        """The :class:`Failed` step ending this reply, if any."""
        last = self.steps[-1] if self.steps else None
        return last if isinstance(last, Failed) else None

    @property
    def call_ids(self) -> list[str]:
        """The call ids of this reply's tool calls, in order (the reply must be resolved, as enqueue does)."""
        ids: list[str] = []
        for step in self.steps:
            if isinstance(step, FunctionCall | CustomToolCall):
                if step.call_id is None:
                    raise ValueError("call ids are set by resolve(); use the reply enqueue() returns")
                ids.append(step.call_id)
        return ids

    def resolve(self, ids: IdAllocator) -> Reply:
        """Return a copy whose unset ids (response, items, calls) are taken from ``ids``."""
        response_id = self.response_id or ids.next("resp")
        steps = tuple(step.resolve(ids) for step in self.steps)
        return dataclasses.replace(self, steps=steps, response_id=response_id)

    def plan(self, ids: IdAllocator | None = None) -> list[bytes | Delay | Gate]:
        """The stream as the server sends it: framed events (bytes) with the pauses (Delay, Gate) between."""
        resolved = self.resolve(ids or IdAllocator())
        response_id = resolved.response_id
        out: list[bytes | Delay | Gate] = [
            encode_event({"type": "response.created", "response": {"id": response_id}})
        ]
        for step in resolved.steps:
            if isinstance(step, Delay | Gate):
                out.append(step)
            elif isinstance(step, Failed):
                error = {"code": step.code, "message": step.message}
                payload = {"type": "response.failed", "response": {"id": response_id, "error": error}}
                out.append(encode_event(payload))
                return out
            else:
                out.extend(encode_event(payload) for payload in step.events())
        completed = {
            "type": "response.completed",
            "response": {"id": response_id, "usage": resolved.usage.to_json()},
        }
        out.append(encode_event(completed))
        return out

    def sse(self, ids: IdAllocator | None = None) -> str:
        """The whole SSE body as text, without the pauses."""
        return "".join(part.decode() for part in self.plan(ids) if isinstance(part, bytes))

    def events(self, ids: IdAllocator | None = None) -> list[Json]:
        """The event payloads in order (what the engine will parse), without the pauses."""
        return [
            json.loads(part.decode().split("\ndata: ", 1)[1]) for part in self.plan(ids) if isinstance(part, bytes)
        ]


@dataclass(frozen=True, slots=True)
class HttpError:
    """A non-SSE answer: HTTP ``status`` with a JSON body (the turn fails with the engine's own message)."""

    status: int
    body: Mapping[str, Any] | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def call_ids(self) -> list[str]:
        """Always empty (an HTTP error calls no tools); here so any queued reply has ``call_ids``."""
        return []

    def resolve(self, ids: IdAllocator) -> HttpError:
        """Nothing to fill in; returns itself."""
        return self

    def body_bytes(self) -> bytes:
        """The body sent: ``body`` as JSON (a str is sent as is), or a default ``{"error": {...}}``."""
        if isinstance(self.body, str):
            return self.body.encode()
        body = self.body
        if body is None:
            body = {
                "error": {
                    "message": f"scripted HTTP {self.status} error",
                    "type": "scripted_error",
                    "code": None,
                }
            }
        return json.dumps(body).encode()


#: What :meth:`ScriptedModel.enqueue` accepts: a reply, an HTTP error, a single step, or a plain text message.
ReplyLike: TypeAlias = Reply | HttpError | Step | str


def as_reply(value: ReplyLike) -> Reply | HttpError:
    """Turn a :data:`ReplyLike` into a reply: a step becomes a one-step reply, a str a :func:`message`."""
    if isinstance(value, Reply | HttpError):
        return value
    if isinstance(value, str):
        return Reply((Message(value),))
    if isinstance(value, _STEP_TYPES):
        return Reply((value,))
    raise TypeError(f"cannot make a scripted reply of {value!r}")


# ---------------------------------------------------------------------------------------------------------------
# Builders


def reply(*steps: Step, usage: Usage | None = None, response_id: str | None = None) -> Reply:
    """Compose one reply from steps, e.g. ``reply(reasoning("..."), exec_command("ls"))``."""
    return Reply(tuple(steps), usage or Usage(), response_id)


def message(text: str, *, phase: str | None = None, item_id: str | None = None) -> Message:
    """An assistant message (one ``output_item.done``).

    ``phase`` (e.g. ``"commentary"``, ``"final_answer"``) is passed through: app-server shows it as the
    ``agentMessage`` item's ``phase``, and the engine sends it back in the history of later requests.
    """
    return Message(text, phase, item_id)


def streamed_message(*chunks: str, phase: str | None = None, item_id: str | None = None) -> StreamedMessage:
    """An assistant message streamed as one ``output_text.delta`` per chunk."""
    if not chunks:
        raise ValueError("streamed_message needs at least one chunk")
    return StreamedMessage(tuple(chunks), phase, item_id)


def reasoning(summary: str, *, item_id: str | None = None) -> Reasoning:
    """A reasoning item with one summary text."""
    return Reasoning(summary, item_id)


def exec_command(cmd: str, *, call_id: str | None = None, **arguments: Any) -> FunctionCall:
    """A call of the engine's shell tool: ``function_call`` ``exec_command`` with ``{"cmd": cmd, **arguments}``.

    Extra keyword arguments go into the tool's arguments as they are (e.g. ``workdir="sub"``).
    """
    return FunctionCall("exec_command", json.dumps({"cmd": cmd, **arguments}), call_id)


def apply_patch(patch: str, *, call_id: str | None = None) -> CustomToolCall:
    """A call of the engine's patch tool: ``custom_tool_call`` ``apply_patch`` with the patch as input.

    The patch is in the engine's format (``*** Begin Patch`` ... ``*** End Patch``); the thread needs a
    writable sandbox for it to apply.
    """
    return CustomToolCall("apply_patch", patch, call_id)


def tool_call(
    name: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    call_id: str | None = None,
    namespace: str | None = None,
) -> FunctionCall:
    """A ``function_call`` of any tool by name, e.g. a client-side (dynamic) tool; arguments sent as JSON."""
    return FunctionCall(name, json.dumps(dict(arguments or {})), call_id, namespace)


def output_item(item: Mapping[str, Any]) -> OutputItem:
    """Any output item, sent as one ``response.output_item.done`` exactly as given."""
    return OutputItem(item)


def event(type: str, **data: Any) -> Event:
    """A raw SSE event ``{"type": type, **data}``, sent exactly as given."""
    return Event(type, data)


def failed(message: str, *, code: str = "server_error") -> Failed:
    """End the stream with ``response.failed``: the engine fails the turn with ``message``."""
    return Failed(message, code)


def http_error(
    status: int,
    body: Mapping[str, Any] | str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> HttpError:
    """Answer with HTTP ``status`` and a JSON body instead of a stream (enqueue it alone)."""
    return HttpError(status, body, dict(headers or {}))


def delay(seconds: float) -> Delay:
    """Pause the stream for ``seconds`` at this point."""
    if seconds < 0:
        raise ValueError("delay must not be negative")
    return Delay(seconds)


def _message_item(item_id: str | None, text: str, phase: str | None) -> Json:
    item: Json = {
        "type": "message",
        "role": "assistant",
        "id": item_id,
        "content": [{"type": "output_text", "text": text}],
    }
    if phase is not None:
        item["phase"] = phase
    return item


def _item_done(item: Json) -> Json:
    return {"type": "response.output_item.done", "item": item}
