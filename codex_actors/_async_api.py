"""The asyncio facade: ``AsyncCodex``, ``AsyncThread`` and ``AsyncTurnHandle``, the sync one awaited.

``AsyncCodex()`` does no I/O: the runtime starts on ``async with`` or on the first awaited call, exactly once
even under concurrent first use, and again after ``close()`` (see :mod:`codex_actors._async_runtime`). Waiting
never holds an executor thread; cancelling an awaiting task releases what it waited for. The flat keyword
methods, between the ``GENERATED`` markers, come from the same spec as the sync ones (``bin/generate-facade``).

Cancel means stop (a deviation from the official SDK, in ``docs/python-parity-checklist.md``): a task cancelled
while it awaits ``AsyncThread.run()`` or ``AsyncTurnHandle.run()`` interrupts the engine-side turn, so the
thread's next turn is a new one instead of silently joining the abandoned turn. ``AsyncThread.turn()`` cancelled
and a ``stream()`` closed early keep the official behaviour (the turn goes on) unless asked:
``stream(interrupt_on_close=True)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import pykka

from ._async_runtime import NOT_INITIALIZED, AsyncRuntime
from ._config import CodexConfig, with_engines
from ._login import AsyncChatgptLoginHandle, AsyncDeviceCodeLoginHandle, chatgpt_login, device_code_login
from ._protocol.generated import (
    LoginAccountParamsApiKey,
    LoginAccountParamsChatgpt,
    LoginAccountParamsChatgptDeviceCode,
)
from ._protocol.jsonrpc import wire_params
from ._runtime import Runtime
from ._subscription import Subscription
from ._sync_runtime import SyncRuntime
from ._thread_setup import ThreadSetup
from ._turn_files import turn_files
from ._unclosed import close_when_dropped
from .actors._directory import ThreadRef
from .errors import TransportClosedError
from .models import InitializeResponse, Notification, initialize_response

# isort: split
# BEGIN GENERATED: imports
from ._inputs import Input, RunInput, wire_input, wire_turn_input
from ._mcp import McpServer
from ._modes import ApprovalMode, Sandbox, approval_settings, sandbox_mode, sandbox_policy
from ._protocol.generated import (
    GetAccountResponse,
    ModelListResponse,
    Personality,
    ReasoningEffort,
    ReasoningSummary,
    SortDirection,
    ThreadArchiveResponse,
    ThreadCompactStartResponse,
    ThreadListCwdFilter,
    ThreadListResponse,
    ThreadReadResponse,
    ThreadSetNameResponse,
    ThreadSortKey,
    ThreadSource,
    ThreadSourceKind,
    ThreadStartSource,
    TurnInterruptResponse,
    TurnSteerResponse,
)
from ._results import TurnResult
from ._structured import output_schema_of
from ._tool import Tool
from .approvals import ApprovalPolicyLike
from .models import JsonObject

# END GENERATED: imports

__all__ = ["AsyncCodex", "AsyncThread", "AsyncTurnHandle"]

T = TypeVar("T")


def _started(runtime: AsyncRuntime) -> Runtime | None:
    return runtime.started


def _check_metadata(runtime: Runtime) -> None:
    """A runtime's ``initialize`` answer validated as it starts (``RuntimeError`` if it lacks the metadata)."""
    initialize_response(runtime.initialize_result)


class AsyncCodex:
    """Async mirror of :class:`~codex_actors.Codex`. Prefer ``async with AsyncCodex()``.

    Dropped without ``close()`` while its runtime runs, it is closed when collected (or at exit), with a
    ``ResourceWarning``; its threads and turn handles keep it alive while they are in use.
    """

    def __init__(self, config: CodexConfig | None = None, *, engines: int | None = None) -> None:
        """Prepare the client (``engines``: a pool of that many, replacing ``CodexConfig.engines``)."""
        self._init: tuple[Runtime, InitializeResponse] | None = None
        # Nothing the runtime holds may refer to this client (on_start included): see codex_actors._unclosed.
        self._runtime = AsyncRuntime(with_engines(config, engines), on_start=_check_metadata)
        close_when_dropped(self, partial(_started, self._runtime))

    async def __aenter__(self) -> AsyncCodex:
        await self._ready()
        return self

    async def __aexit__(self, _exc_type: object, _exc: object, _tb: object) -> None:
        await self.close()

    async def _ready(self) -> None:
        await self._runtime.start()

    @property
    def metadata(self) -> InitializeResponse:
        """The engine's validated ``initialize`` answer; ``RuntimeError`` before initialization."""
        runtime = self._runtime.started
        if runtime is None:
            raise RuntimeError(NOT_INITIALIZED)
        if self._init is None or self._init[0] is not runtime:
            self._init = (runtime, initialize_response(runtime.initialize_result))
        return self._init[1]

    @property
    def supervisor(self) -> pykka.ActorRef[Any]:
        """The root supervisor of the current runtime (``RuntimeError`` before initialization)."""
        return self._runtime.runtime.supervisor

    async def close(self) -> None:
        """Stop the runtime; the next awaited call starts a fresh one."""
        self._init = None
        await self._runtime.close()

    def thread_ref(self, thread_id: str) -> ThreadRef:
        """The address of a thread's actor, for its id alone (``RuntimeError`` before initialization).

        See ``Codex.thread_ref``.
        """
        return self._runtime.runtime.thread_ref(thread_id)

    async def login_api_key(self, api_key: str) -> None:
        """Authenticate Codex with an API key."""
        params = wire_params(LoginAccountParamsApiKey(api_key=api_key))
        await self._runtime.request("account/login/start", params)

    async def login_chatgpt(self) -> AsyncChatgptLoginHandle:
        """Start a browser ChatGPT login and return its live handle."""
        raw = await self._runtime.request("account/login/start", wire_params(LoginAccountParamsChatgpt()))
        response = chatgpt_login(raw)
        return AsyncChatgptLoginHandle(self._runtime, response["loginId"], response["authUrl"])

    async def login_chatgpt_device_code(self) -> AsyncDeviceCodeLoginHandle:
        """Start a device-code ChatGPT login and return its live handle."""
        params = wire_params(LoginAccountParamsChatgptDeviceCode())
        response = device_code_login(await self._runtime.request("account/login/start", params))
        return AsyncDeviceCodeLoginHandle(
            self._runtime, response["loginId"], response["verificationUrl"], response["userCode"]
        )

    async def logout(self) -> None:
        """Clear the current Codex account session."""
        await self._runtime.request("account/logout")

    # BEGIN GENERATED: AsyncCodex.flat_methods
    async def thread_start(
        self,
        *,
        approval_mode: ApprovalMode = ApprovalMode.auto_review,
        base_instructions: str | None = None,
        config: JsonObject | None = None,
        cwd: str | None = None,
        developer_instructions: str | None = None,
        ephemeral: bool | None = None,
        model: str | None = None,
        model_provider: str | None = None,
        personality: Personality | None = None,
        sandbox: Sandbox | None = None,
        service_name: str | None = None,
        service_tier: str | None = None,
        session_start_source: ThreadStartSource | None = None,
        thread_source: ThreadSource | None = None,
        tools: Sequence[Tool] | None = None,
        approval_policy: ApprovalPolicyLike | None = None,
        mcp_servers: Mapping[str, McpServer] | None = None,
    ) -> AsyncThread:
        """Create a new Codex conversation thread."""
        await self._ready()
        wire_policy, wire_reviewer = approval_settings(approval_mode, inherit=False)
        params: dict[str, Any] = {
            "approvalPolicy": wire_policy,
            "approvalsReviewer": wire_reviewer,
            "baseInstructions": base_instructions,
            "config": config,
            "cwd": cwd,
            "developerInstructions": developer_instructions,
            "ephemeral": ephemeral,
            "model": model,
            "modelProvider": model_provider,
            "personality": personality,
            "sandbox": sandbox_mode(sandbox),
            "serviceName": service_name,
            "serviceTier": service_tier,
            "sessionStartSource": session_start_source,
            "threadSource": thread_source,
        }
        return await self._open_thread("thread/start", params, tools, approval_policy, mcp_servers)

    async def thread_list(
        self,
        *,
        archived: bool | None = None,
        cursor: str | None = None,
        cwd: ThreadListCwdFilter | None = None,
        limit: int | None = None,
        model_providers: list[str] | None = None,
        search_term: str | None = None,
        section_id: str | None = None,
        sort_direction: SortDirection | None = None,
        sort_key: ThreadSortKey | None = None,
        source_kinds: list[ThreadSourceKind] | None = None,
        use_state_db_only: bool | None = None,
    ) -> ThreadListResponse:
        """List saved conversation threads."""
        await self._ready()
        params: dict[str, Any] = {
            "archived": archived,
            "cursor": cursor,
            "cwd": cwd,
            "limit": limit,
            "modelProviders": model_providers,
            "searchTerm": search_term,
            "sectionId": section_id,
            "sortDirection": sort_direction,
            "sortKey": sort_key,
            "sourceKinds": source_kinds,
            "useStateDbOnly": use_state_db_only,
        }
        return await self._call("thread/list", params, ThreadListResponse)

    async def thread_resume(
        self,
        thread_id: str,
        *,
        approval_mode: ApprovalMode | None = None,
        base_instructions: str | None = None,
        config: JsonObject | None = None,
        cwd: str | None = None,
        developer_instructions: str | None = None,
        include_turns: bool | None = None,
        model: str | None = None,
        model_provider: str | None = None,
        personality: Personality | None = None,
        sandbox: Sandbox | None = None,
        service_tier: str | None = None,
        tools: Sequence[Tool] | None = None,
        approval_policy: ApprovalPolicyLike | None = None,
        mcp_servers: Mapping[str, McpServer] | None = None,
    ) -> AsyncThread:
        """Resume an existing conversation thread by id."""
        await self._ready()
        wire_policy, wire_reviewer = approval_settings(approval_mode)
        params: dict[str, Any] = {
            "threadId": thread_id,
            "approvalPolicy": wire_policy,
            "approvalsReviewer": wire_reviewer,
            "baseInstructions": base_instructions,
            "config": config,
            "cwd": cwd,
            "developerInstructions": developer_instructions,
            "excludeTurns": None if include_turns is None else not include_turns,
            "model": model,
            "modelProvider": model_provider,
            "personality": personality,
            "sandbox": sandbox_mode(sandbox),
            "serviceTier": service_tier,
        }
        return await self._open_thread("thread/resume", params, tools, approval_policy, mcp_servers)

    async def thread_fork(
        self,
        thread_id: str,
        *,
        approval_mode: ApprovalMode | None = None,
        base_instructions: str | None = None,
        config: JsonObject | None = None,
        cwd: str | None = None,
        developer_instructions: str | None = None,
        ephemeral: bool | None = None,
        include_turns: bool | None = None,
        model: str | None = None,
        model_provider: str | None = None,
        sandbox: Sandbox | None = None,
        service_tier: str | None = None,
        thread_source: ThreadSource | None = None,
        tools: Sequence[Tool] | None = None,
        approval_policy: ApprovalPolicyLike | None = None,
    ) -> AsyncThread:
        """Fork an existing conversation thread into a new thread."""
        await self._ready()
        wire_policy, wire_reviewer = approval_settings(approval_mode)
        params: dict[str, Any] = {
            "threadId": thread_id,
            "approvalPolicy": wire_policy,
            "approvalsReviewer": wire_reviewer,
            "baseInstructions": base_instructions,
            "config": config,
            "cwd": cwd,
            "developerInstructions": developer_instructions,
            "ephemeral": ephemeral,
            "excludeTurns": None if include_turns is None else not include_turns,
            "model": model,
            "modelProvider": model_provider,
            "sandbox": sandbox_mode(sandbox),
            "serviceTier": service_tier,
            "threadSource": thread_source,
        }
        return await self._open_thread("thread/fork", params, tools, approval_policy)

    async def thread_archive(
        self,
        thread_id: str,
    ) -> ThreadArchiveResponse:
        """Archive a thread (the engine also unloads it)."""
        await self._ready()
        params: dict[str, Any] = {
            "threadId": thread_id,
        }
        return await self._call("thread/archive", params, ThreadArchiveResponse)

    async def thread_unarchive(
        self,
        thread_id: str,
    ) -> AsyncThread:
        """Unarchive a thread and return it."""
        await self._ready()
        params: dict[str, Any] = {
            "threadId": thread_id,
        }
        return await self._open_thread("thread/unarchive", params)

    async def models(
        self,
        *,
        include_hidden: bool = False,
    ) -> ModelListResponse:
        """List the models the engine offers."""
        await self._ready()
        params: dict[str, Any] = {
            "includeHidden": include_hidden,
        }
        return await self._call("model/list", params, ModelListResponse)

    async def account(
        self,
        *,
        refresh_token: bool = False,
    ) -> GetAccountResponse:
        """Read the current Codex account state."""
        await self._ready()
        params: dict[str, Any] = {
            "refreshToken": refresh_token,
        }
        return await self._call("account/read", params, GetAccountResponse)

    # END GENERATED: AsyncCodex.flat_methods

    async def _open_thread(
        self,
        method: str,
        params: dict[str, Any],
        tools: Sequence[Tool] | None = None,
        approval_policy: ApprovalPolicyLike | None = None,
        mcp_servers: Mapping[str, McpServer] | None = None,
    ) -> AsyncThread:
        """Send a request that answers a thread (start, resume, fork, unarchive), with its services (see sync)."""
        runtime = await self._runtime.start()
        setup = ThreadSetup(
            runtime.config, method, params, tools=tools, approval_policy=approval_policy, mcp_servers=mcp_servers
        )
        address = await self._runtime.open_thread(method, wire_params(params))  # holds the thread's entry
        setup.keep(runtime.directory, address.thread_id)
        return AsyncThread(self, address.thread_id)

    async def _call(self, method: str, params: dict[str, Any], result_type: type[T]) -> T:
        return await self._runtime.call(method, wire_params(params), result_type)


def _release_thread(runtime: AsyncRuntime, thread_id: str) -> None:
    """An ``AsyncThread`` was garbage-collected: its actor may hibernate once idle."""
    started = runtime.started
    if started is not None:
        started.release_thread(thread_id)


@dataclass(slots=True, weakref_slot=True)
class AsyncThread:
    """Async mirror of :class:`~codex_actors.Thread`."""

    _codex: AsyncCodex
    id: str
    _address: ThreadRef | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        started = self._codex._runtime.started
        self._address = None if started is None else started.thread_ref(self.id)
        weakref.finalize(self, _release_thread, self._codex._runtime, self.id)

    @property
    def actor_ref(self) -> ThreadRef:
        """The address of the thread's actor (``RuntimeError`` before the client is initialized)."""
        return self._codex._runtime.runtime.thread_ref(self.id)

    async def _ready(self) -> None:
        await self._codex._ready()

    # BEGIN GENERATED: AsyncThread.flat_methods
    async def run(
        self,
        input: RunInput,
        *,
        approval_mode: ApprovalMode | None = None,
        cwd: str | None = None,
        effort: ReasoningEffort | None = None,
        model: str | None = None,
        output_schema: JsonObject | None = None,
        personality: Personality | None = None,
        sandbox: Sandbox | None = None,
        service_tier: str | None = None,
        source: str | None = None,
        summary: ReasoningSummary | None = None,
        turn_service_tier: str | None = None,
        output_type: Any = None,
    ) -> TurnResult:
        """Run a complete turn and return its result (``turn(...).run()``)."""
        await self._ready()
        items, tool_output = wire_turn_input(input)
        wire_policy, wire_reviewer = approval_settings(approval_mode)
        params: dict[str, Any] = {
            "threadId": self.id,
            "input": items,
            "toolOutput": tool_output,
            "approvalPolicy": wire_policy,
            "approvalsReviewer": wire_reviewer,
            "cwd": cwd,
            "effort": effort,
            "model": model,
            "outputSchema": output_schema_of(output_schema, output_type),
            "personality": personality,
            "sandboxPolicy": sandbox_policy(sandbox),
            "serviceTier": service_tier,
            "turnTrigger": source,
            "summary": summary,
            "serviceTierForTurn": turn_service_tier,
        }
        return await self._run(params, output_type)

    async def turn(
        self,
        input: RunInput,
        *,
        approval_mode: ApprovalMode | None = None,
        cwd: str | None = None,
        effort: ReasoningEffort | None = None,
        model: str | None = None,
        output_schema: JsonObject | None = None,
        personality: Personality | None = None,
        sandbox: Sandbox | None = None,
        service_tier: str | None = None,
        source: str | None = None,
        summary: ReasoningSummary | None = None,
        turn_service_tier: str | None = None,
        output_type: Any = None,
    ) -> AsyncTurnHandle:
        """Start a turn, or join the thread's active turn, and return its handle.

        ``source`` labels what started a new turn and ``turn_service_tier`` applies to this turn only; both are
        ignored when joining. An :class:`~codex_actors.ExternalMessage` supplies untrusted content with
        tool-level authority.
        """
        await self._ready()
        items, tool_output = wire_turn_input(input)
        wire_policy, wire_reviewer = approval_settings(approval_mode)
        params: dict[str, Any] = {
            "threadId": self.id,
            "input": items,
            "toolOutput": tool_output,
            "approvalPolicy": wire_policy,
            "approvalsReviewer": wire_reviewer,
            "cwd": cwd,
            "effort": effort,
            "model": model,
            "outputSchema": output_schema_of(output_schema, output_type),
            "personality": personality,
            "sandboxPolicy": sandbox_policy(sandbox),
            "serviceTier": service_tier,
            "turnTrigger": source,
            "summary": summary,
            "serviceTierForTurn": turn_service_tier,
        }
        return await self._turn(params, output_type)

    async def read(
        self,
        *,
        include_turns: bool = False,
    ) -> ThreadReadResponse:
        """Read this thread, optionally with its turns."""
        await self._ready()
        params: dict[str, Any] = {
            "threadId": self.id,
            "includeTurns": include_turns,
        }
        return await self._call("thread/read", params, ThreadReadResponse)

    async def set_name(
        self,
        name: str,
    ) -> ThreadSetNameResponse:
        """Name this thread."""
        await self._ready()
        params: dict[str, Any] = {
            "threadId": self.id,
            "name": name,
        }
        return await self._call("thread/name/set", params, ThreadSetNameResponse)

    async def compact(
        self,
    ) -> ThreadCompactStartResponse:
        """Start compacting this thread's history."""
        await self._ready()
        params: dict[str, Any] = {
            "threadId": self.id,
        }
        return await self._call("thread/compact/start", params, ThreadCompactStartResponse)

    # END GENERATED: AsyncThread.flat_methods

    async def _run(self, params: dict[str, Any], output_type: Any) -> TurnResult:
        # Cancelled at any point once turn/start is sent, the turn is interrupted: before its answer came (when
        # it comes, by the runtime) or while the handle reads it (by AsyncTurnHandle.run).
        return await (await self._turn(params, output_type, interrupt_if_cancelled=True)).run()

    async def _turn(
        self, params: dict[str, Any], output_type: Any, *, interrupt_if_cancelled: bool = False
    ) -> AsyncTurnHandle:
        # turn() cancelled keeps the official behaviour: the turn goes on (only the cursor is released).
        # Its local images are checked first, and the staged ones held until the turn is consumed (or dropped).
        held = turn_files(params["input"])
        try:
            started = await self._codex._runtime.start_turn(
                self.id, wire_params(params), interrupt_if_cancelled=interrupt_if_cancelled
            )
        except BaseException:
            held.close()
            raise
        subscription = Subscription(started)
        handle = AsyncTurnHandle(
            self._codex, self.id, started.turn_id, _subscription=subscription, _output_type=output_type
        )
        handle._held = held
        weakref.finalize(handle, held.close)
        return handle

    async def _call(self, method: str, params: dict[str, Any], result_type: type[T]) -> T:
        return await self._codex._runtime.thread_call(self.id, method, wire_params(params), result_type)


@dataclass(slots=True, weakref_slot=True)
class AsyncTurnHandle:
    """Async mirror of :class:`~codex_actors.TurnHandle`."""

    _codex: AsyncCodex
    thread_id: str
    id: str
    _subscription: Subscription = field(init=False, repr=False, compare=False)
    _output_type: Any = field(init=False, repr=False, compare=False)
    _held: contextlib.ExitStack | None = field(init=False, repr=False, compare=False)

    def __init__(
        self, _codex: AsyncCodex, thread_id: str, id: str, *, _subscription: Any = None, _output_type: Any = None
    ) -> None:
        self._codex, self.thread_id, self.id = _codex, thread_id, id
        self._output_type = _output_type
        self._held = None  # the staged files of its input, held until it is consumed
        if _subscription is None:  # built by hand: a cursor on the turn's future events, asked for now
            runtime = _codex._runtime.runtime
            _subscription = Subscription(SyncRuntime(runtime).subscribe_turn(thread_id, id))
        self._subscription = _subscription

    async def _ready(self) -> None:
        await self._codex._ready()

    # BEGIN GENERATED: AsyncTurnHandle.flat_methods
    async def steer(
        self,
        input: Input | str,
    ) -> TurnSteerResponse:
        """Send more user input to this active turn."""
        await self._ready()
        params: dict[str, Any] = {
            "threadId": self.thread_id,
            "expectedTurnId": self.id,
            "input": wire_input(input),
        }
        return await self._call("turn/steer", params, TurnSteerResponse)

    async def interrupt(
        self,
    ) -> TurnInterruptResponse:
        """Ask the engine to interrupt this turn (it then completes with status ``interrupted``)."""
        await self._ready()
        params: dict[str, Any] = {
            "threadId": self.thread_id,
            "turnId": self.id,
        }
        return await self._call("turn/interrupt", params, TurnInterruptResponse)

    # END GENERATED: AsyncTurnHandle.flat_methods

    async def stream(self, *, interrupt_on_close: bool = False) -> AsyncGenerator[Notification, None]:
        """Yield this turn's notifications, ending after its ``turn/completed``; see ``TurnHandle.stream``.

        Closed before the turn ended (``aclose()``, dropped, or the consuming task cancelled), the turn goes on,
        as in the official SDK; with ``interrupt_on_close=True`` it is interrupted (without waiting).
        """
        batches = self._batches()
        try:
            async for events in batches:
                for event in events:
                    yield event
        except (GeneratorExit, asyncio.CancelledError):
            if interrupt_on_close:
                self._interrupt_unfinished()
            raise
        finally:
            await batches.aclose()

    async def run(self) -> TurnResult:
        """Consume the turn and return its result; a failed turn raises ``RuntimeError`` with its message.

        If the awaiting task is cancelled before the turn ended, the turn is interrupted in the engine (without
        waiting for the answer) and ``CancelledError`` raised at once: a deviation from the official SDK, which
        leaves the turn running (the thread's next ``run()`` would then join it).
        """
        batches = self._batches()
        try:
            async for _ in batches:  # read to the end, a batch at a time, so the log can be pruned
                pass
        except asyncio.CancelledError:
            self._interrupt_unfinished()
            raise
        finally:
            await batches.aclose()
            if self._held is not None:
                self._held.close()
        return self._subscription.result(self._output_type)

    def _interrupt_unfinished(self) -> None:
        """Interrupt this turn, fire and forget, unless it already ended."""
        self._codex._runtime.interrupt_turn(self.thread_id, self._subscription.log)

    async def _batches(self) -> AsyncGenerator[list[Notification], None]:
        """The log's batches past this handle's cursor, until it ends; errors made final, the cursor released."""
        runtime = await self._codex._runtime.start()
        subscription = self._subscription
        try:
            while events := await subscription.atake():  # the log ends after this turn's turn/completed
                yield events
        except TransportClosedError as exc:
            raise runtime.final_error(exc) from None
        finally:
            subscription.close()

    async def _call(self, method: str, params: dict[str, Any], result_type: type[T]) -> T:
        runtime = self._codex._runtime
        return await runtime.thread_call(self.thread_id, method, wire_params(params), result_type)
