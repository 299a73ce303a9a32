"""The public API: ``Codex``, ``Thread`` and ``TurnHandle``, with the official SDK's signatures and wire params.

They are thin: a ``Codex`` holds a :class:`~codex_actors._runtime.Runtime` (the root supervisor of an actor
tree); a ``Thread`` is a thread id plus that runtime, talking to the thread's actor; a ``TurnHandle`` reads the
turn's event log at its own cursor. Differences from the official SDK are deliberate and listed in
``docs/python-parity-checklist.md``: an engine crash is survived (the engine restarts, the thread resumes, and
the same ``Thread`` keeps working), every failure is typed, and every wait has a timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pykka

from . import _params
from ._config import CodexConfig
from ._inputs import Input, RunInput, wire_input
from ._login import ChatgptLoginHandle, DeviceCodeLoginHandle, chatgpt_login, device_code_login
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
from ._subscription import EventStream, Subscription
from .actors._messages import SubscribeTurn, TurnStarted
from .models import InitializeResponse, JsonObject, Notification, initialize_response

__all__ = ["Codex", "Thread", "TurnHandle"]


class Codex:
    """Synchronous client for creating threads and running Codex turns.

    The engine starts (and completes its handshake) in the constructor; use it as a context manager so it is
    closed promptly. Inside, a supervisor restarts the engine if it dies: threads resume on the new engine.
    """

    def __init__(self, config: CodexConfig | None = None) -> None:
        self._client = Runtime(config)
        try:
            self._init = initialize_response(self._client.initialize_result)
        except Exception:
            self._client.close()
            raise

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
        return self._client.supervisor

    def close(self) -> None:
        """Stop the engine and every actor. Idempotent; later calls raise ``TransportClosedError``."""
        self._client.close()

    def login_api_key(self, api_key: str) -> None:
        """Authenticate Codex with an API key."""
        self._client.request("account/login/start", {"apiKey": api_key, "type": "apiKey"})

    def login_chatgpt(self) -> ChatgptLoginHandle:
        """Start a browser ChatGPT login and return its live handle."""
        response = chatgpt_login(self._client.request("account/login/start", {"type": "chatgpt"}))
        return ChatgptLoginHandle(self._client, response["loginId"], response["authUrl"])

    def login_chatgpt_device_code(self) -> DeviceCodeLoginHandle:
        """Start a device-code ChatGPT login and return its live handle."""
        raw = self._client.request("account/login/start", {"type": "chatgptDeviceCode"})
        response = device_code_login(raw)
        return DeviceCodeLoginHandle(
            self._client, response["loginId"], response["verificationUrl"], response["userCode"]
        )

    def account(self, *, refresh_token: bool = False) -> GetAccountResponse:
        """Read the current Codex account state."""
        return self._client.call("account/read", {"refreshToken": refresh_token}, GetAccountResponse)

    def logout(self) -> None:
        """Clear the current Codex account session."""
        self._client.request("account/logout")

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
    ) -> Thread:
        """Create a new Codex conversation thread."""
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
        return self._bind(self._client.request("thread/start", params))

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
        return self._client.call("thread/list", params, ThreadListResponse)

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
    ) -> Thread:
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
        return self._bind(self._client.request("thread/resume", params))

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
    ) -> Thread:
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
        return self._bind(self._client.request("thread/fork", params))

    def thread_archive(self, thread_id: str) -> ThreadArchiveResponse:
        """Archive a thread (the engine also unloads it)."""
        return self._client.call("thread/archive", {"threadId": thread_id}, ThreadArchiveResponse)

    def thread_unarchive(self, thread_id: str) -> Thread:
        """Unarchive a thread and return it."""
        return self._bind(self._client.request("thread/unarchive", {"threadId": thread_id}))

    def models(self, *, include_hidden: bool = False) -> ModelListResponse:
        """List the models the engine offers."""
        return self._client.call("model/list", {"includeHidden": include_hidden}, ModelListResponse)

    def _bind(self, raw: Any) -> Thread:
        thread_id: str = decode_payload(raw, dict[str, Any])["thread"]["id"]
        self._client.thread_actor(thread_id)
        return Thread(self._client, thread_id)


@dataclass(slots=True)
class Thread:
    """A conversation thread, used to run one or more turns.

    ``actor_ref`` is its actor: another actor handed it can run turns purely by message
    (:class:`~codex_actors.actors._messages.RunTurn` answered by ``TurnFinished``).
    """

    _client: Runtime
    id: str

    @property
    def actor_ref(self) -> pykka.ActorRef[Any]:
        """The thread's actor (started if it is not running)."""
        return self._client.thread_actor(self.id)

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
        return self.turn(
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
        ).run()

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
        ignored when joining. An :class:`~codex_actors._inputs.ExternalMessage` supplies untrusted content with
        tool-level authority.
        """
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
        started = self._client.start_turn(self.id, params)
        return TurnHandle(
            self._client, self.id, started.turn_id, _subscription=Subscription(started), _output_type=output_type
        )

    def read(self, *, include_turns: bool = False) -> ThreadReadResponse:
        """Read this thread, optionally with its turns."""
        raw = self._client.thread_request(self.id, "thread/read", {"includeTurns": include_turns})
        return decode_payload(raw, ThreadReadResponse)

    def set_name(self, name: str) -> ThreadSetNameResponse:
        """Name this thread."""
        raw = self._client.thread_request(self.id, "thread/name/set", {"name": name})
        return decode_payload(raw, ThreadSetNameResponse)

    def compact(self) -> ThreadCompactStartResponse:
        """Start compacting this thread's history."""
        raw = self._client.thread_request(self.id, "thread/compact/start", {})
        return decode_payload(raw, ThreadCompactStartResponse)


@dataclass(slots=True)
class TurnHandle:
    """Control and consume a turn after it has started.

    Built by hand as ``TurnHandle(client, thread_id, id)`` it sees that turn's future events only.
    """

    _client: Runtime
    thread_id: str
    id: str
    _subscription: Subscription = field(init=False, repr=False, compare=False)
    _output_type: Any = field(init=False, repr=False, compare=False)

    def __init__(
        self, _client: Runtime, thread_id: str, id: str, *, _subscription: Any = None, _output_type: Any = None
    ) -> None:
        self._client, self.thread_id, self.id = _client, thread_id, id
        self._output_type = _output_type
        if _subscription is None:
            future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
            _client.thread_actor(thread_id).tell(SubscribeTurn(id, False, future))
            _subscription = Subscription(future.get(timeout=_client.options.request_timeout))
        self._subscription = _subscription

    def steer(self, input: Input | str) -> TurnSteerResponse:
        """Send more user input to this active turn."""
        params = {"expectedTurnId": self.id, "input": wire_input(input)}
        return decode_payload(self._client.thread_request(self.thread_id, "turn/steer", params), TurnSteerResponse)

    def interrupt(self) -> TurnInterruptResponse:
        """Ask the engine to interrupt this turn (it then completes with status ``interrupted``)."""
        raw = self._client.thread_request(self.thread_id, "turn/interrupt", {"turnId": self.id})
        return decode_payload(raw, TurnInterruptResponse)

    def stream(self) -> Iterator[Notification]:
        """Yield this turn's notifications, ending after its ``turn/completed``.

        A failed turn does not raise here (its ``turn/completed`` says so); an engine crash raises
        ``TransportClosedError``. A second ``stream()``/``run()`` on the same handle raises
        ``TransportClosedError("Turn subscription closed")``.
        """
        return EventStream.of(self._subscription, self._client.translate)

    def run(self) -> TurnResult:
        """Consume the turn and return its result; a failed turn raises ``RuntimeError`` with its message."""
        accumulator = TurnAccumulator(self.id)
        for event in self.stream():
            if event.method in ACCUMULATED:
                accumulator.add(event.payload)
        result = accumulator.checked_result()
        if self._output_type is not None:
            result.parsed = parse_output(self._output_type, result.final_response)
        return result
