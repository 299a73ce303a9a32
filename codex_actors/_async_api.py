"""The asyncio API: ``AsyncCodex``, ``AsyncThread`` and ``AsyncTurnHandle``, mirroring the sync one.

``AsyncCodex()`` does no I/O: the runtime starts on ``async with`` or on the first awaited call, exactly once even
under concurrent first use, and again after ``close()``. Waiting never holds an executor thread: requests and
turn streams are answered by callbacks that complete asyncio futures on the loop (only starting the runtime and
the rare supervisor lookups run in a worker thread). Cancelling an awaiting task releases what it waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import pykka

from . import _params
from ._config import CodexConfig
from ._inputs import Input, RunInput, wire_input
from ._login import AsyncChatgptLoginHandle, AsyncDeviceCodeLoginHandle, chatgpt_login, device_code_login
from ._modes import ApprovalMode, Sandbox
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
from ._protocol.jsonrpc import decode_payload
from ._results import ACCUMULATED, TurnAccumulator, TurnResult
from ._runtime import Runtime
from ._structured import parse_output
from ._subscription import Subscription
from ._waiter import Waiter
from .actors._messages import StartTurn, SubscribeTurn, ThreadRequest, TurnStarted
from .errors import RequestTimeoutError, TransportClosedError
from .models import InitializeResponse, JsonObject, Notification, initialize_response

__all__ = ["AsyncCodex", "AsyncThread", "AsyncTurnHandle"]

T = TypeVar("T")

_NOT_INITIALIZED = (
    "AsyncCodex is not initialized yet. Prefer `async with AsyncCodex()`; "
    "initialization also happens on first awaited API use."
)


def _release(started: Any) -> None:
    if isinstance(started, TurnStarted):
        started.log.unsubscribe(started.subscriber)


class AsyncCodex:
    """Async mirror of :class:`~codex_actors._sync_api.Codex`. Prefer ``async with AsyncCodex()``."""

    def __init__(self, config: CodexConfig | None = None) -> None:
        self._config = config
        self._client: Runtime | None = None
        self._init: InitializeResponse | None = None
        self._init_lock = asyncio.Lock()

    async def __aenter__(self) -> AsyncCodex:
        await self._ensure_initialized()
        return self

    async def __aexit__(self, _exc_type: object, _exc: object, _tb: object) -> None:
        await self.close()

    async def _ensure_initialized(self) -> Runtime:
        client = self._client
        if client is not None and not client.closed:
            return client
        async with self._init_lock:
            client = self._client
            if client is not None and not client.closed:
                return client
            runtime = await asyncio.to_thread(Runtime, self._config)
            try:
                self._init = initialize_response(runtime.initialize_result)
            except Exception:
                await asyncio.to_thread(runtime.close)
                self._init = None
                raise
            self._client = runtime
            return runtime

    @property
    def metadata(self) -> InitializeResponse:
        """The engine's validated ``initialize`` answer; ``RuntimeError`` before initialization."""
        if self._init is None:
            raise RuntimeError(_NOT_INITIALIZED)
        return self._init

    @property
    def supervisor(self) -> pykka.ActorRef[Any]:
        """The root supervisor of the current runtime (``RuntimeError`` before initialization)."""
        if self._client is None:
            raise RuntimeError(_NOT_INITIALIZED)
        return self._client.supervisor

    async def close(self) -> None:
        """Stop the runtime; the next awaited call starts a fresh one."""
        client = self._client
        self._init = None
        if client is not None:
            await asyncio.to_thread(client.close)

    # -- plumbing shared with the thread and turn handles -----------------------------------------------------

    async def _settle(
        self, client: Runtime, waiter: Waiter[T], method: str, timeout: float | None, thread_id: str | None = None
    ) -> T:
        wait = client.options.request_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(waiter.future, wait)
        except TimeoutError:
            if thread_id is not None:
                client.cancel(thread_id, waiter.reply)
            raise RequestTimeoutError(method, wait) from None
        except TransportClosedError as exc:
            raise await asyncio.to_thread(client.translate, exc) from None

    async def _request(self, method: str, params: Any = None, *, timeout: float | None = None) -> msgspec.Raw:
        client = await self._ensure_initialized()
        if not client.engine_is_cached:
            await asyncio.to_thread(client.engine)
        waiter: Waiter[msgspec.Raw] = Waiter()
        client.send_request(method, params, waiter.reply)
        return await self._settle(client, waiter, method, timeout)

    async def _call(self, method: str, params: Any, result_type: type[T]) -> T:
        return decode_payload(await self._request(method, params), result_type)

    async def _to_thread_actor(self, thread_id: str, message: Any, waiter: Waiter[T], method: str) -> T:
        client = await self._ensure_initialized()
        if not client.has_thread_actor(thread_id):
            await asyncio.to_thread(client.thread_actor, thread_id)
        client.send_to_thread(thread_id, message)
        return await self._settle(client, waiter, method, None, thread_id)

    async def _thread_request(self, thread_id: str, method: str, params: dict[str, Any]) -> msgspec.Raw:
        waiter: Waiter[msgspec.Raw] = Waiter()
        return await self._to_thread_actor(thread_id, ThreadRequest(method, params, waiter.reply), waiter, method)

    async def _bind(self, raw: msgspec.Raw) -> AsyncThread:
        thread_id: str = decode_payload(raw, dict[str, Any])["thread"]["id"]
        client = await self._ensure_initialized()
        await asyncio.to_thread(client.thread_actor, thread_id)
        return AsyncThread(self, thread_id)

    # -- the public API ---------------------------------------------------------------------------------------

    async def login_api_key(self, api_key: str) -> None:
        """Authenticate Codex with an API key."""
        await self._request("account/login/start", {"apiKey": api_key, "type": "apiKey"})

    async def login_chatgpt(self) -> AsyncChatgptLoginHandle:
        """Start a browser ChatGPT login and return its live handle."""
        response = chatgpt_login(await self._request("account/login/start", {"type": "chatgpt"}))
        return AsyncChatgptLoginHandle(self, response["loginId"], response["authUrl"])

    async def login_chatgpt_device_code(self) -> AsyncDeviceCodeLoginHandle:
        """Start a device-code ChatGPT login and return its live handle."""
        response = device_code_login(await self._request("account/login/start", {"type": "chatgptDeviceCode"}))
        return AsyncDeviceCodeLoginHandle(
            self, response["loginId"], response["verificationUrl"], response["userCode"]
        )

    async def account(self, *, refresh_token: bool = False) -> GetAccountResponse:
        """Read the current Codex account state."""
        return await self._call("account/read", {"refreshToken": refresh_token}, GetAccountResponse)

    async def logout(self) -> None:
        """Clear the current Codex account session."""
        await self._request("account/logout")

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
    ) -> AsyncThread:
        """Create a new Codex conversation thread."""
        await self._ensure_initialized()
        params = _params.thread_start(
            approval_mode=approval_mode,
            base_instructions=base_instructions,
            config=config,
            cwd=cwd,
            developer_instructions=developer_instructions,
            ephemeral=ephemeral,
            model=model,
            model_provider=model_provider,
            personality=personality,
            sandbox=sandbox,
            service_name=service_name,
            service_tier=service_tier,
            session_start_source=session_start_source,
            thread_source=thread_source,
        )
        return await self._bind(await self._request("thread/start", params))

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
        params = _params.thread_list(
            archived=archived,
            cursor=cursor,
            cwd=cwd,
            limit=limit,
            model_providers=model_providers,
            search_term=search_term,
            section_id=section_id,
            sort_direction=sort_direction,
            sort_key=sort_key,
            source_kinds=source_kinds,
            use_state_db_only=use_state_db_only,
        )
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
    ) -> AsyncThread:
        """Resume an existing conversation thread by id."""
        params = _params.thread_resume(
            thread_id,
            approval_mode=approval_mode,
            base_instructions=base_instructions,
            config=config,
            cwd=cwd,
            developer_instructions=developer_instructions,
            include_turns=include_turns,
            model=model,
            model_provider=model_provider,
            personality=personality,
            sandbox=sandbox,
            service_tier=service_tier,
        )
        return await self._bind(await self._request("thread/resume", params))

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
    ) -> AsyncThread:
        """Fork an existing conversation thread into a new thread."""
        params = _params.thread_fork(
            thread_id,
            approval_mode=approval_mode,
            base_instructions=base_instructions,
            config=config,
            cwd=cwd,
            developer_instructions=developer_instructions,
            ephemeral=ephemeral,
            include_turns=include_turns,
            model=model,
            model_provider=model_provider,
            sandbox=sandbox,
            service_tier=service_tier,
            thread_source=thread_source,
        )
        return await self._bind(await self._request("thread/fork", params))

    async def thread_archive(self, thread_id: str) -> ThreadArchiveResponse:
        """Archive a thread (the engine also unloads it)."""
        return await self._call("thread/archive", {"threadId": thread_id}, ThreadArchiveResponse)

    async def thread_unarchive(self, thread_id: str) -> AsyncThread:
        """Unarchive a thread and return it."""
        return await self._bind(await self._request("thread/unarchive", {"threadId": thread_id}))

    async def models(self, *, include_hidden: bool = False) -> ModelListResponse:
        """List the models the engine offers."""
        return await self._call("model/list", {"includeHidden": include_hidden}, ModelListResponse)


@dataclass(slots=True)
class AsyncThread:
    """Async mirror of :class:`~codex_actors._sync_api.Thread`."""

    _codex: AsyncCodex
    id: str

    @property
    def actor_ref(self) -> pykka.ActorRef[Any]:
        """The thread's actor (``RuntimeError`` before the client is initialized)."""
        client = self._codex._client
        if client is None:
            raise RuntimeError(_NOT_INITIALIZED)
        return client.thread_actor(self.id)

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
        """Run a complete turn and return its result."""
        handle = await self.turn(
            input,
            approval_mode=approval_mode,
            cwd=cwd,
            effort=effort,
            model=model,
            output_schema=output_schema,
            personality=personality,
            sandbox=sandbox,
            service_tier=service_tier,
            source=source,
            summary=summary,
            turn_service_tier=turn_service_tier,
            output_type=output_type,
        )
        return await handle.run()

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
        """Start a turn, or join the thread's active turn, and return its handle."""
        params = _params.turn_start(
            input,
            approval_mode=approval_mode,
            cwd=cwd,
            effort=effort,
            model=model,
            output_schema=output_schema,
            output_type=output_type,
            personality=personality,
            sandbox=sandbox,
            service_tier=service_tier,
            source=source,
            summary=summary,
            turn_service_tier=turn_service_tier,
        )
        client = await self._codex._ensure_initialized()
        client.gate.check("turn/start", params)
        waiter: Waiter[TurnStarted] = Waiter(on_abandoned=_release)
        message = StartTurn(params, waiter.reply)
        started = await self._codex._to_thread_actor(self.id, message, waiter, "turn/start")
        return AsyncTurnHandle(
            self._codex, self.id, started.turn_id, _subscription=Subscription(started), _output_type=output_type
        )

    async def read(self, *, include_turns: bool = False) -> ThreadReadResponse:
        """Read this thread, optionally with its turns."""
        raw = await self._codex._thread_request(self.id, "thread/read", {"includeTurns": include_turns})
        return decode_payload(raw, ThreadReadResponse)

    async def set_name(self, name: str) -> ThreadSetNameResponse:
        """Name this thread."""
        raw = await self._codex._thread_request(self.id, "thread/name/set", {"name": name})
        return decode_payload(raw, ThreadSetNameResponse)

    async def compact(self) -> ThreadCompactStartResponse:
        """Start compacting this thread's history."""
        raw = await self._codex._thread_request(self.id, "thread/compact/start", {})
        return decode_payload(raw, ThreadCompactStartResponse)


@dataclass(slots=True)
class AsyncTurnHandle:
    """Async mirror of :class:`~codex_actors._sync_api.TurnHandle`."""

    _codex: AsyncCodex
    thread_id: str
    id: str
    _subscription: Subscription = field(init=False, repr=False, compare=False)
    _output_type: Any = field(init=False, repr=False, compare=False)

    def __init__(
        self, _codex: AsyncCodex, thread_id: str, id: str, *, _subscription: Any = None, _output_type: Any = None
    ) -> None:
        self._codex, self.thread_id, self.id = _codex, thread_id, id
        self._output_type = _output_type
        if _subscription is None:
            client = _codex._client
            if client is None:
                raise RuntimeError(_NOT_INITIALIZED)
            future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
            client.send_to_thread(thread_id, SubscribeTurn(id, False, future))
            _subscription = Subscription(future.get(timeout=client.options.request_timeout))
        self._subscription = _subscription

    async def steer(self, input: Input | str) -> TurnSteerResponse:
        """Send more user input to this active turn."""
        params = {"expectedTurnId": self.id, "input": wire_input(input)}
        raw = await self._codex._thread_request(self.thread_id, "turn/steer", params)
        return decode_payload(raw, TurnSteerResponse)

    async def interrupt(self) -> TurnInterruptResponse:
        """Ask the engine to interrupt this turn."""
        raw = await self._codex._thread_request(self.thread_id, "turn/interrupt", {"turnId": self.id})
        return decode_payload(raw, TurnInterruptResponse)

    async def stream(self) -> AsyncGenerator[Notification, None]:
        """Yield this turn's notifications, ending after its ``turn/completed``; see ``TurnHandle.stream``."""
        client = await self._codex._ensure_initialized()
        subscription = self._subscription
        try:
            while events := await subscription.atake():  # the log ends after this turn's turn/completed
                for event in events:
                    yield event
        except TransportClosedError as exc:
            raise await asyncio.to_thread(client.translate, exc) from None
        finally:
            subscription.close()

    async def run(self) -> TurnResult:
        """Consume the turn and return its result; a failed turn raises ``RuntimeError`` with its message."""
        accumulator = TurnAccumulator(self.id)
        stream = self.stream()
        try:
            async for event in stream:
                if event.method in ACCUMULATED:
                    accumulator.add(event.payload)
        finally:
            await stream.aclose()
        result = accumulator.checked_result()
        if self._output_type is not None:
            result.parsed = parse_output(self._output_type, result.final_response)
        return result
