"""Helpers for running one scenario through ``Codex``, ``AsyncCodex`` and the official ``openai_codex``.

* A *kind* names a client: ``"sync"`` (our ``Codex``), ``"async"`` (our ``AsyncCodex``), ``"official"``
  (``openai_codex.Codex``) and ``"official-async"`` (``openai_codex.AsyncCodex``).
* :class:`Aw` makes any of them awaitable-uniform: every method call is awaited (a sync call simply runs), so
  one ``async def`` scenario runs through all of them under ``asyncio.run``.
* :class:`Rig` is one test's offline engine (scripted model, isolated home) plus a :class:`WireTap`; it builds
  each SDK's ``CodexConfig`` with a marker in the environment, so the test can prove every engine it started is
  gone at the end.
* :meth:`Rig.fake_engine` is ``tests/support/fakes/fake_engine.py``, for what the real engine cannot show:
  scripted JSON-RPC errors (``FAKE_ENGINE_ERRORS``, the -32001 overload among them) and an old reported version
  (``FAKE_ENGINE_VERSION``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import msgspec
import openai_codex
import psutil
import pydantic

import codex_actors
from codex_actors.testing import OfflineEngine, WireTap
from tests.support.fixtures import FAKE_ENGINE

T = TypeVar("T")

OURS = ("sync", "async")
ALL = ("sync", "async", "official")
MARKER_VAR = "CODEX_PARITY_RIG"

# The official SDK's turn-scoped notification methods (reference §3.3): what a turn stream carries.
TURN_SCOPED = frozenset(
    {
        "autoApprovalReview/strictReviewRequired",
        "error",
        "hook/completed",
        "hook/started",
        "item/agentMessage/delta",
        "item/autoApprovalReview/completed",
        "item/autoApprovalReview/started",
        "item/commandExecution/outputDelta",
        "item/commandExecution/terminalInteraction",
        "item/completed",
        "item/fileChange/outputDelta",
        "item/fileChange/patchUpdated",
        "item/mcpToolCall/progress",
        "item/plan/delta",
        "item/reasoning/summaryPartAdded",
        "item/reasoning/summaryTextDelta",
        "item/reasoning/textDelta",
        "item/started",
        "model/rerouted",
        "model/safetyBuffering/updated",
        "model/verification",
        "modelProvider/authRecoveryCompleted",
        "modelProvider/authRecoveryStarted",
        "thread/compacted",
        "thread/goal/updated",
        "thread/tokenUsage/updated",
        "turn/completed",
        "turn/diff/updated",
        "turn/moderationMetadata",
        "turn/plan/updated",
        "turn/started",
    }
)


def is_ours(kind: str) -> bool:
    return not kind.startswith("official")


def is_async(kind: str) -> bool:
    return kind.endswith("async")


def sdk(kind: str) -> ModuleType:
    """The package whose public names the scenario uses (``ApprovalMode``, ``TextInput``, errors...)."""
    return codex_actors if is_ours(kind) else openai_codex


# -- one scenario, any client -----------------------------------------------------------------------------------

_WRAPPED = frozenset(
    {
        "Codex",
        "AsyncCodex",
        "Thread",
        "AsyncThread",
        "TurnHandle",
        "AsyncTurnHandle",
        "ChatgptLoginHandle",
        "AsyncChatgptLoginHandle",
        "DeviceCodeLoginHandle",
        "AsyncDeviceCodeLoginHandle",
    }
)


def _wrap(value: Any, kind: str) -> Any:
    return Aw(value, kind) if type(value).__name__ in _WRAPPED else value


class Aw:
    """A client, thread or turn handle whose methods are all awaited, whichever SDK flavour it is."""

    __slots__ = ("kind", "target")

    def __init__(self, target: Any, kind: str) -> None:
        self.target = target
        self.kind = kind

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.target, name)
        if not callable(value):
            return value

        async def call(*args: Any, **kwargs: Any) -> Any:
            out = value(*args, **kwargs)
            if inspect.isawaitable(out):
                out = await out
            return _wrap(out, self.kind)

        return call

    async def events(self) -> list[Any]:
        """The whole of ``stream()``, for a sync or an async handle."""
        stream = self.target.stream()
        if hasattr(stream, "__aiter__"):
            return [event async for event in stream]
        return list(stream)

    def bind_thread(self, thread_id: str) -> Aw:
        """A thread object for an existing id, built without any request (both SDKs allow it)."""
        module = sdk(self.kind)
        if is_async(self.kind):
            return Aw(module.AsyncThread(self.target, thread_id), self.kind)
        return Aw(module.Thread(self.target._client, thread_id), self.kind)

    def bind_turn(self, thread_id: str, turn_id: str) -> Aw:
        """A turn handle built by hand (it sees that turn's future events only)."""
        module = sdk(self.kind)
        if is_async(self.kind):
            return Aw(module.AsyncTurnHandle(self.target, thread_id, turn_id), self.kind)
        return Aw(module.TurnHandle(self.target._client, thread_id, turn_id), self.kind)

    async def raw_request(self, method: str, params: Any = None) -> Any:
        """A JSON-RPC request outside the public API (each SDK's low-level client); the decoded result."""
        kind, target = self.kind, self.target
        if kind == "sync":
            return msgspec.json.decode(target._client.request(method, params))
        if kind == "async":
            return msgspec.json.decode(await target._runtime.request(method, params))
        if kind == "official":
            return target._client.request(method, params, response_model=_AnyResult).model_dump()
        await target._ensure_initialized()
        result = await target._client.request(method, params, response_model=_AnyResult)
        return result.model_dump()


class _AnyResult(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run one scenario coroutine to completion on a fresh event loop."""
    return asyncio.run(scenario())  # type: ignore[arg-type]


@asynccontextmanager
async def open_client(kind: str, config: Any) -> AsyncIterator[Aw]:
    """The client of ``kind``, initialized (``async with`` for the async ones) and closed on exit."""
    module = sdk(kind)
    if is_async(kind):
        async with module.AsyncCodex(config) as client:
            yield Aw(client, kind)
        return
    client = module.Codex(config)
    try:
        yield Aw(client, kind)
    finally:
        client.close()


# -- normalized views --------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A result of either SDK as plain JSON data (wire names, defaults included, ``None`` fields left out)."""
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(by_alias=True, mode="json")
    elif isinstance(value, msgspec.Struct):  # field by field: defaults included, whatever omit_defaults says
        config = value.__struct_config__
        data = {} if config.tag_field is None else {config.tag_field: config.tag}
        for info in msgspec.structs.fields(value):
            data[info.encode_name] = getattr(value, info.name)
        value = data
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if hasattr(value, "value") and isinstance(value.value, str):  # an enum member
        return value.value
    return value


def item_type(item: Any) -> str:
    """The ``type`` of a thread item of either SDK."""
    return str(plain(item)["type"])


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def masked(messages: Iterable[dict[str, Any]], *, paths: Iterable[str | Path] = ()) -> list[Any]:
    """Wire messages with request ids removed, uuids numbered by first appearance and ``paths`` replaced."""
    names: dict[str, str] = {}
    text = json.dumps([{k: v for k, v in m.items() if k != "id"} for m in messages])
    for index, path in enumerate(paths):
        text = text.replace(str(path), f"<path{index}>")

    def number(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"<uuid{len(names)}>")

    return list(json.loads(_UUID.sub(number, text)))


# -- the rig -----------------------------------------------------------------------------------------------------


class Rig:
    """One test's engine world: an :class:`OfflineEngine` and a :class:`WireTap` in its root."""

    def __init__(self, offline: OfflineEngine) -> None:
        self.offline = offline
        self.tap = WireTap(offline.root / "tap")
        self.marker = uuid.uuid4().hex
        self.kinds_used: set[str] = set()

    @property
    def model(self) -> Any:
        return self.offline.model

    @property
    def workspace(self) -> Path:
        return self.offline.workspace

    def _make(self, kind: str, fields: dict[str, Any]) -> Any:
        self.kinds_used.add(kind)
        env = {**(fields.pop("env", None) or {}), MARKER_VAR: self.marker}
        return sdk(kind).CodexConfig(env=env, **fields)

    def config(self, kind: str, *, tapped: bool = True, **fields: Any) -> Any:
        """The SDK's CodexConfig for the real engine (through the tap unless ``tapped=False``)."""
        base = self.offline.config
        fields = {"cwd": base.cwd, "env": {**(base.env or {}), **fields.pop("env", {})}, **fields}
        if tapped:
            fields.setdefault("codex_bin", self.tap.codex_bin)
        return self._make(kind, fields)

    def fake(self, kind: str, argv: tuple[str, ...], *, env: dict[str, str] | None = None) -> tuple[Any, WireTap]:
        """The SDK's CodexConfig launching ``argv`` (a stand-in engine) through a fresh tap, and that tap."""
        tap = WireTap(self.offline.root / "taps", command=argv, name=f"fake-{uuid.uuid4().hex[:8]}")
        return self._make(kind, {"launch_args_override": tap.launch_args(), "env": dict(env or {})}), tap

    def fake_engine(self) -> tuple[str, ...]:
        """The argv of ``tests/support/fakes/fake_engine.py``."""
        return (sys.executable, str(FAKE_ENGINE))

    def engines(self) -> list[psutil.Process]:
        """Live processes started for this rig (found by the marker in their environment)."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if proc.environ().get(MARKER_VAR) == self.marker:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def real_engines(self) -> list[psutil.Process]:
        """This rig's live ``codex app-server`` processes (not the tap's wrappers)."""
        found = []
        for proc in self.engines():
            try:
                if "app-server" in proc.cmdline() and "python" not in Path(proc.cmdline()[0]).name:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def assert_no_engines(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while left := self.engines():
            if time.monotonic() > deadline:
                raise AssertionError(f"engine processes left behind: {[p.cmdline() for p in left]}")
            time.sleep(0.02)


def turn_events_on_wire(messages: Iterable[dict[str, Any]], turn_id: str) -> list[dict[str, Any]]:
    """The turn-scoped notifications of ``turn_id`` among engine messages, in wire order."""
    found = []
    for message in messages:
        method, params = message.get("method"), message.get("params")
        if method not in TURN_SCOPED or "id" in message or not isinstance(params, dict):
            continue
        turn = params.get("turn")
        if params.get("turnId") == turn_id or (isinstance(turn, dict) and turn.get("id") == turn_id):
            found.append(message)
    return found
