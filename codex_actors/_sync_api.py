"""The synchronous facade: ``Codex``, ``Thread`` and ``TurnHandle``, with the official SDK's signatures.

They are thin. A ``Codex`` holds a :class:`~codex_actors._sync_runtime.SyncRuntime` (blocking calls on the
runtime core: the root supervisor of an actor tree); a ``Thread`` is a thread id plus that runtime, talking to
the thread's actor; a ``TurnHandle`` reads the turn's event log at its own cursor. The flat keyword methods,
between the ``GENERATED`` markers, are written by ``bin/generate-facade`` from ``bin/facade_spec.py``: they build
the generated params Structs (whose wire names are the engine's) and hand them to the small hooks below.

Differences from the official SDK are deliberate and listed in ``docs/python-parity-checklist.md``: an engine
crash is survived (the engine restarts, the thread resumes, and the same ``Thread`` keeps working), every failure
is typed, and every wait has a timeout.
"""

from __future__ import annotations

import collections
import contextlib
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import pykka

from ._config import CodexConfig, with_engines
from ._interrupts import interrupt_turn
from ._login import ChatgptLoginHandle, DeviceCodeLoginHandle, chatgpt_login, device_code_login
from ._protocol.generated import (
    LoginAccountParamsApiKey,
    LoginAccountParamsChatgpt,
    LoginAccountParamsChatgptDeviceCode,
)
from ._protocol.jsonrpc import wire_params
from ._runtime import Runtime
from ._subscription import EventStream, Subscription
from ._sync_runtime import SyncRuntime
from ._thread_setup import ThreadSetup
from ._turn_files import turn_files
from ._unclosed import close_when_dropped
from .actors._directory import ThreadRef
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

__all__ = ["Codex", "Thread", "TurnHandle"]

T = TypeVar("T")


def _the(runtime: Runtime) -> Runtime:
    return runtime


class Codex:
    """Synchronous client for creating threads and running Codex turns.

    The engine starts (and completes its handshake) in the constructor; use it as a context manager so it is
    closed promptly. Inside, a supervisor restarts the engine if it dies: threads resume on the new engine.
    A client dropped without ``close()`` is closed when collected (or at exit), with a ``ResourceWarning``; its
    threads and turn handles keep it alive while they are in use.
    """

    def __init__(self, config: CodexConfig | None = None, *, engines: int | None = None) -> None:
        """Start the engine (``engines``: that many, a pool; it replaces ``CodexConfig.engines``)."""
        runtime = Runtime(with_engines(config, engines))
        self._client = SyncRuntime(runtime)
        try:
            self._init = initialize_response(runtime.initialize_result)
        except Exception:
            runtime.close()
            raise
        close_when_dropped(self, partial(_the, runtime))

    def __enter__(self) -> Codex:
        return self

    def __exit__(self, _exc_type: object, _exc: object, _tb: object) -> None:
        self.close()

    @property
    def metadata(self) -> InitializeResponse:
        """The engine's validated ``initialize`` answer (still available after ``close()``)."""
        return self._init

    @property
    def supervisor(self) -> pykka.ActorRef[Any]:
        """The root supervisor of this client's actor tree."""
        return self._client.runtime.supervisor

    def close(self) -> None:
        """Stop the engine and every actor. Idempotent; later calls raise ``TransportClosedError``."""
        self._client.runtime.close()

    def thread_ref(self, thread_id: str) -> ThreadRef:
        """The address of a thread's actor, for its id alone (as ``Thread.actor_ref``; a codex-actors addition).

        Nothing is sent until a message is: the first one starts the actor, which resumes the thread on the
        engine first if this client has not loaded it. An id the engine does not know fails that message with
        :class:`~codex_actors.errors.UnknownThreadError`.
        """
        return self._client.runtime.thread_ref(thread_id)

    def login_api_key(self, api_key: str) -> None:
        """Authenticate Codex with an API key."""
        self._client.request("account/login/start", wire_params(LoginAccountParamsApiKey(api_key=api_key)))

    def login_chatgpt(self) -> ChatgptLoginHandle:
        """Start a browser ChatGPT login and return its live handle."""
        raw = self._client.request("account/login/start", wire_params(LoginAccountParamsChatgpt()))
        response = chatgpt_login(raw)
        return ChatgptLoginHandle(self._handed_out(), response["loginId"], response["authUrl"])

    def login_chatgpt_device_code(self) -> DeviceCodeLoginHandle:
        """Start a device-code ChatGPT login and return its live handle."""
        raw = self._client.request("account/login/start", wire_params(LoginAccountParamsChatgptDeviceCode()))
        response = device_code_login(raw)
        return DeviceCodeLoginHandle(
            self._handed_out(), response["loginId"], response["verificationUrl"], response["userCode"]
        )

    def logout(self) -> None:
        """Clear the current Codex account session."""
        self._client.request("account/logout")

    # BEGIN GENERATED: Codex.flat_methods
    def thread_start(
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
    ) -> Thread:
        """Create a new Codex conversation thread."""
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
        return self._open_thread("thread/start", params, tools, approval_policy, mcp_servers)

    def thread_list(
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
        return self._call("thread/list", params, ThreadListResponse)

    def thread_resume(
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
    ) -> Thread:
        """Resume an existing conversation thread by id."""
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
        return self._open_thread("thread/resume", params, tools, approval_policy, mcp_servers)

    def thread_fork(
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
    ) -> Thread:
        """Fork an existing conversation thread into a new thread."""
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
        return self._open_thread("thread/fork", params, tools, approval_policy)

    def thread_archive(
        self,
        thread_id: str,
    ) -> ThreadArchiveResponse:
        """Archive a thread (the engine also unloads it)."""
        params: dict[str, Any] = {
            "threadId": thread_id,
        }
        return self._call("thread/archive", params, ThreadArchiveResponse)

    def thread_unarchive(
        self,
        thread_id: str,
    ) -> Thread:
        """Unarchive a thread and return it."""
        params: dict[str, Any] = {
            "threadId": thread_id,
        }
        return self._open_thread("thread/unarchive", params)

    def models(
        self,
        *,
        include_hidden: bool = False,
    ) -> ModelListResponse:
        """List the models the engine offers."""
        params: dict[str, Any] = {
            "includeHidden": include_hidden,
        }
        return self._call("model/list", params, ModelListResponse)

    def account(
        self,
        *,
        refresh_token: bool = False,
    ) -> GetAccountResponse:
        """Read the current Codex account state."""
        params: dict[str, Any] = {
            "refreshToken": refresh_token,
        }
        return self._call("account/read", params, GetAccountResponse)

    # END GENERATED: Codex.flat_methods

    def _open_thread(
        self,
        method: str,
        params: dict[str, Any],
        tools: Sequence[Tool] | None = None,
        approval_policy: ApprovalPolicyLike | None = None,
        mcp_servers: Mapping[str, McpServer] | None = None,
    ) -> Thread:
        """Send a request that answers a thread (start, resume, fork, unarchive) and bind its actor.

        The thread's tools, approval policy and MCP servers are laid into the request first (``ThreadSetup``),
        and its own tools and policy kept for it before any turn can start.
        """
        runtime = self._client.runtime
        setup = ThreadSetup(
            runtime.config, method, params, tools=tools, approval_policy=approval_policy, mcp_servers=mcp_servers
        )
        address = self._client.open_thread(method, wire_params(params))  # holds the thread's entry meanwhile
        setup.keep(runtime.directory, address.thread_id)
        return Thread(self._handed_out(), address.thread_id)

    def _handed_out(self) -> SyncRuntime:
        """The runtime for an object this client hands out, which keeps the client alive while it is."""
        return SyncRuntime(self._client.runtime, owner=self)

    def _call(self, method: str, params: dict[str, Any], result_type: type[T]) -> T:
        return self._client.call(method, wire_params(params), result_type)


@dataclass(slots=True, weakref_slot=True)
class Thread:
    """A conversation thread, used to run one or more turns.

    ``actor_ref`` is the address of its actor: another actor handed it can run turns purely by message
    (:class:`~codex_actors.actors.RunTurn` answered by :class:`~codex_actors.actors.TurnFinished`). When the
    ``Thread`` is garbage-collected its actor hibernates as soon as it is idle (the thread lives on).
    """

    _client: SyncRuntime
    id: str
    _address: ThreadRef = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._address = self._client.runtime.thread_ref(self.id)
        weakref.finalize(self, self._client.runtime.release_thread, self.id)

    @property
    def actor_ref(self) -> ThreadRef:
        """The address of the thread's actor: stable across hibernation, actor restarts and engine restarts."""
        return self._address

    # BEGIN GENERATED: Thread.flat_methods
    def run(
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
        return self._run(params, output_type)

    def turn(
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
    ) -> TurnHandle:
        """Start a turn, or join the thread's active turn, and return its handle.

        ``source`` labels what started a new turn and ``turn_service_tier`` applies to this turn only; both are
        ignored when joining. An :class:`~codex_actors.ExternalMessage` supplies untrusted content with
        tool-level authority.
        """
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
        return self._turn(params, output_type)

    def read(
        self,
        *,
        include_turns: bool = False,
    ) -> ThreadReadResponse:
        """Read this thread, optionally with its turns."""
        params: dict[str, Any] = {
            "threadId": self.id,
            "includeTurns": include_turns,
        }
        return self._call("thread/read", params, ThreadReadResponse)

    def set_name(
        self,
        name: str,
    ) -> ThreadSetNameResponse:
        """Name this thread."""
        params: dict[str, Any] = {
            "threadId": self.id,
            "name": name,
        }
        return self._call("thread/name/set", params, ThreadSetNameResponse)

    def compact(
        self,
    ) -> ThreadCompactStartResponse:
        """Start compacting this thread's history."""
        params: dict[str, Any] = {
            "threadId": self.id,
        }
        return self._call("thread/compact/start", params, ThreadCompactStartResponse)

    # END GENERATED: Thread.flat_methods

    def _run(self, params: dict[str, Any], output_type: Any) -> TurnResult:
        return self._turn(params, output_type).run()

    def _turn(self, params: dict[str, Any], output_type: Any) -> TurnHandle:
        # Its local images are checked first, and the staged ones held until the turn is consumed (or dropped).
        held = turn_files(params["input"])
        try:
            started = self._client.start_turn(self.id, wire_params(params))
        except BaseException:
            held.close()
            raise
        subscription = Subscription(started)
        handle = TurnHandle(
            self._client, self.id, started.turn_id, _subscription=subscription, _output_type=output_type
        )
        handle._held = held
        weakref.finalize(handle, held.close)
        return handle

    def _call(self, method: str, params: dict[str, Any], result_type: type[T]) -> T:
        return self._client.thread_call(self.id, method, wire_params(params), result_type)


@dataclass(slots=True, weakref_slot=True)
class TurnHandle:
    """Control and consume a turn after it has started.

    Built by hand as ``TurnHandle(client, thread_id, id)`` it sees that turn's future events only (its
    ``run()`` still returns the whole turn's result, which the thread's actor assembled).
    """

    _client: SyncRuntime
    thread_id: str
    id: str
    _subscription: Subscription = field(init=False, repr=False, compare=False)
    _output_type: Any = field(init=False, repr=False, compare=False)
    _held: contextlib.ExitStack | None = field(init=False, repr=False, compare=False)

    def __init__(
        self, _client: SyncRuntime, thread_id: str, id: str, *, _subscription: Any = None, _output_type: Any = None
    ) -> None:
        self._client, self.thread_id, self.id = _client, thread_id, id
        self._output_type = _output_type
        self._held = None  # the staged files of its input, held until it is consumed
        if _subscription is None:
            _subscription = Subscription(_client.subscribe_turn(thread_id, id))
        self._subscription = _subscription

    # BEGIN GENERATED: TurnHandle.flat_methods
    def steer(
        self,
        input: Input | str,
    ) -> TurnSteerResponse:
        """Send more user input to this active turn."""
        params: dict[str, Any] = {
            "threadId": self.thread_id,
            "expectedTurnId": self.id,
            "input": wire_input(input),
        }
        return self._call("turn/steer", params, TurnSteerResponse)

    def interrupt(
        self,
    ) -> TurnInterruptResponse:
        """Ask the engine to interrupt this turn (it then completes with status ``interrupted``)."""
        params: dict[str, Any] = {
            "threadId": self.thread_id,
            "turnId": self.id,
        }
        return self._call("turn/interrupt", params, TurnInterruptResponse)

    # END GENERATED: TurnHandle.flat_methods

    def stream(self, *, interrupt_on_close: bool = False) -> Iterator[Notification]:
        """Yield this turn's notifications, ending after its ``turn/completed``.

        A failed turn does not raise here (its ``turn/completed`` says so); an engine crash raises
        ``TransportClosedError``. A second ``stream()``/``run()`` on the same handle raises
        ``TransportClosedError("Turn subscription closed")``.

        Closing the iterator (``close()``, or dropping it) before the turn ended leaves the turn running, as in
        the official SDK; with ``interrupt_on_close=True`` it also interrupts the turn (``turn/interrupt``,
        without waiting for the answer), so the thread's next turn is a new one.
        """
        runtime, subscription = self._client.runtime, self._subscription
        on_close = (
            partial(interrupt_turn, runtime, self.thread_id, subscription.log) if interrupt_on_close else None
        )
        return EventStream.of(subscription, runtime.final_error, on_close)

    def run(self) -> TurnResult:
        """Consume the turn and return its result; a failed turn raises ``RuntimeError`` with its message."""
        try:
            collections.deque(self.stream(), maxlen=0)  # read to the end (C-level), so the log can be pruned
            return self._subscription.result(self._output_type)
        finally:
            if self._held is not None:
                self._held.close()

    def _call(self, method: str, params: dict[str, Any], result_type: type[T]) -> T:
        return self._client.thread_call(self.thread_id, method, wire_params(params), result_type)
