"""The approval broker: answers every engine server request that is not a client-side tool call.

Approval requests (commands, file changes, permissions, MCP tool calls, and the legacy v1 command and patch
approvals) are decoded into the typed requests of :mod:`codex_actors.approvals` and decided by a policy: the
thread's own, else the client's (``CodexConfig.approval_policy``), else the official defaults (commands and
file changes accepted; permissions and MCP tool calls declined). The policy runs on a :class:`CallRunner` of
its own (``POLICY_LIMIT`` at once, each within ``CodexConfig.approval_timeout_s``), never on this actor's
thread, so a policy that asks a person holds up only the item it decides. A policy that raises, times out or
answers something that is not a decision declines (fail closed), with a WARNING and a :class:`HandlerEvent`.

Every other request gets an answer its schema accepts, never a bare ``{}``: user input gets no answers, a
non-approval elicitation is declined, ``currentTime/read`` gets the time, and what needs credentials the SDK
does not have (auth token refresh, attestation) or is unknown gets a JSON-RPC error.

File-change paths: the engine's ``item/fileChange/requestApproval`` names only the item; the paths are in the
``fileChange`` item of the ``item/started`` notification sent just before. Whoever sees that notification
tells this actor :class:`FileChangeSeen` (see :func:`file_change_seen`); a request whose item was not seen yet
waits for it up to :data:`PATHS_WAIT_S` once any was ever seen, and is otherwise decided with
``paths_known=False``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import re
import shlex
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from .._protocol.generated import FileChangeThreadItem
from .._protocol.jsonrpc import ServerRequest
from ..approvals import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    CommandApproval,
    FileChangeApproval,
    McpToolApproval,
    PermissionsApproval,
    _command_words,
    _unwrap_shell,
    as_decision,
    as_policy,
)
from ..errors import TransportClosedError
from ._calls import CallRunner, Finished, Outcome, Raised, TimedOut
from ._messages import HandlerEvent, HandleServerRequest, ReplyError
from ._services import ServiceSetup
from ._supervisor import ChildContext, SupervisedActor
from ._telemetry import telemetry_event

__all__ = ["PATHS_WAIT_S", "POLICY_LIMIT", "ApprovalBroker", "FileChangeSeen", "file_change_seen"]

logger = logging.getLogger("codex_actors.approvals")

#: Policies deciding at once (across all threads); they may wait for a person, so the bound is generous.
POLICY_LIMIT = 64
#: Seconds a file-change request waits for its item's paths (only once :class:`FileChangeSeen` ever arrived).
PATHS_WAIT_S = 2.0
#: File-change items whose paths are remembered until their approval request comes (the oldest dropped).
PATHS_KEPT = 1024
#: The ``kind`` of each approval request, in telemetry.
_KINDS: dict[type[Any], str] = {
    CommandApproval: "command",
    FileChangeApproval: "file_change",
    PermissionsApproval: "permissions",
    McpToolApproval: "mcp_tool",
}
#: JSON-RPC error code of a request the SDK cannot answer truthfully (no credentials, unknown method).
UNSUPPORTED_CODE = -32601

COMMAND = "item/commandExecution/requestApproval"
FILE_CHANGE = "item/fileChange/requestApproval"
PERMISSIONS = "item/permissions/requestApproval"
ELICITATION = "mcpServer/elicitation/request"
USER_INPUT = "item/tool/requestUserInput"
CURRENT_TIME = "currentTime/read"
LEGACY_COMMAND = "execCommandApproval"
LEGACY_PATCH = "applyPatchApproval"
NO_CREDENTIALS = frozenset({"account/chatgptAuthTokens/refresh", "attestation/generate"})

#: The legacy ``ReviewDecision`` of each decision (a denial is an object in that schema, not a string).
_LEGACY: dict[ApprovalDecision, Any] = {
    ApprovalDecision.accept: "approved",
    ApprovalDecision.accept_for_session: "approved_for_session",
    ApprovalDecision.decline: {"denied": {"rejection": "declined by the client's approval policy"}},
    ApprovalDecision.cancel: "abort",
}
_TOOL_IN_MESSAGE = re.compile(r'tool "([^"]+)"')


class FileChangeSeen(msgspec.Struct, frozen=True):
    """Tell: the engine announced the ``fileChange`` item ``item_id`` of ``thread_id``, touching ``paths``."""

    thread_id: str
    item_id: str
    paths: tuple[str, ...]


class _PathsWaitOver(msgspec.Struct, frozen=True):
    key: tuple[str, str]


def file_change_seen(note: Any) -> FileChangeSeen | None:
    """The :class:`FileChangeSeen` of an ``item/started`` notification of a ``fileChange`` item, else ``None``.

    ``note`` is a decoded :class:`~codex_actors._protocol.jsonrpc.ServerNotification`.
    """
    if getattr(note, "method", None) != "item/started":
        return None
    payload: Any = getattr(note, "payload", None)
    item = getattr(payload, "item", None)
    thread_id = getattr(payload, "thread_id", None)
    if not isinstance(item, FileChangeThreadItem) or not isinstance(thread_id, str):
        return None
    paths: list[str] = []
    for change in item.changes:
        paths.append(change.path)
        move = getattr(change.kind, "move_path", None)
        if move:
            paths.append(move)
    return FileChangeSeen(thread_id, item.id, tuple(paths))


# -- decoding the requests ----------------------------------------------------------------------------------------


class _CommandParams(msgspec.Struct):
    threadId: str
    turnId: str | None = None
    itemId: str | None = None
    command: str | None = None
    cwd: str | None = None
    reason: str | None = None


class _FileChangeParams(msgspec.Struct):
    threadId: str
    turnId: str | None = None
    itemId: str | None = None
    reason: str | None = None
    grantRoot: str | None = None


class _PermissionsParams(msgspec.Struct):
    threadId: str
    turnId: str | None = None
    itemId: str | None = None
    cwd: str | None = None
    reason: str | None = None
    permissions: dict[str, Any] = msgspec.field(default_factory=dict)


class _ElicitationParams(msgspec.Struct):
    threadId: str
    serverName: str = "?"
    turnId: str | None = None
    message: str | None = None
    _meta: dict[str, Any] | None = msgspec.field(default=None, name="_meta")


class _LegacyCommandParams(msgspec.Struct):
    conversationId: str
    callId: str | None = None
    command: list[str] = msgspec.field(default_factory=list)
    cwd: str | None = None
    reason: str | None = None


class _LegacyPatchParams(msgspec.Struct):
    conversationId: str
    callId: str | None = None
    fileChanges: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    reason: str | None = None
    grantRoot: str | None = None


def _command_request(
    thread_id: str,
    turn_id: str | None,
    item_id: str | None,
    command: str | None,
    cwd: str | None,
    reason: str | None,
    raw: dict[str, Any],
) -> CommandApproval:
    script = None if command is None else _unwrap_shell(command)
    argv = () if script is None else _command_words(script)
    return CommandApproval(
        thread_id=thread_id,
        turn_id=turn_id,
        item_id=item_id,
        command=command,
        cwd=cwd,
        reason=reason,
        script=script,
        argv=argv,
        raw=raw,
    )


def decode_request(method: str, params: bytes, paths: tuple[str, ...] | None = None) -> ApprovalRequest | None:
    """The typed request of an approval ``method`` (``None``: not an approval request; DecodeError: malformed).

    ``paths`` are the file-change item's paths when known (for ``item/fileChange/requestApproval``).
    """
    raw: dict[str, Any] = msgspec.json.decode(params, type=dict[str, Any])
    if method == COMMAND:
        c = msgspec.json.decode(params, type=_CommandParams)
        return _command_request(c.threadId, c.turnId, c.itemId, c.command, c.cwd, c.reason, raw)
    if method == LEGACY_COMMAND:
        lc = msgspec.json.decode(params, type=_LegacyCommandParams)
        line = shlex.join(lc.command) if lc.command else None
        return _command_request(lc.conversationId, None, lc.callId, line, lc.cwd, lc.reason, raw)
    if method == FILE_CHANGE:
        f = msgspec.json.decode(params, type=_FileChangeParams)
        return FileChangeApproval(
            thread_id=f.threadId,
            turn_id=f.turnId,
            item_id=f.itemId,
            paths=paths or (),
            paths_known=paths is not None,
            reason=f.reason,
            grant_root=f.grantRoot,
            raw=raw,
        )
    if method == LEGACY_PATCH:
        lp = msgspec.json.decode(params, type=_LegacyPatchParams)
        found: list[str] = []
        for path, change in lp.fileChanges.items():
            found.append(path)
            move = change.get("move_path") if isinstance(change, dict) else None
            if isinstance(move, str) and move:
                found.append(move)
        return FileChangeApproval(
            thread_id=lp.conversationId,
            turn_id=None,
            item_id=lp.callId,
            paths=tuple(found),
            paths_known=True,
            reason=lp.reason,
            grant_root=lp.grantRoot,
            raw=raw,
        )
    if method == PERMISSIONS:
        p = msgspec.json.decode(params, type=_PermissionsParams)
        return PermissionsApproval(
            thread_id=p.threadId,
            turn_id=p.turnId,
            item_id=p.itemId,
            cwd=p.cwd,
            reason=p.reason,
            permissions=p.permissions,
            raw=raw,
        )
    if method == ELICITATION:
        e = msgspec.json.decode(params, type=_ElicitationParams)
        meta = e._meta or {}
        if meta.get("codex_approval_kind") != "mcp_tool_call":
            return None
        arguments = meta.get("tool_params")
        found_tool = _TOOL_IN_MESSAGE.search(e.message or "")
        return McpToolApproval(
            thread_id=e.threadId,
            turn_id=e.turnId,
            server=e.serverName,
            tool=found_tool.group(1) if found_tool else None,
            arguments=arguments if isinstance(arguments, dict) else {},
            message=e.message,
            raw=raw,
        )
    return None


def answer(method: str, request: ApprovalRequest, decision: ApprovalDecision) -> dict[str, Any]:
    """The result that tells the engine ``decision`` about ``request`` (sent for ``method``), per its schema."""
    if method in (LEGACY_COMMAND, LEGACY_PATCH):
        return {"decision": _LEGACY[decision]}
    if isinstance(request, PermissionsApproval):
        if decision in (ApprovalDecision.accept, ApprovalDecision.accept_for_session):
            scope = "session" if decision is ApprovalDecision.accept_for_session else "turn"
            return {"permissions": request.permissions, "scope": scope}
        return {"permissions": {}, "scope": "turn"}
    if isinstance(request, McpToolApproval):
        if decision is ApprovalDecision.accept_for_session:
            return {"action": "accept", "content": None, "_meta": {"persist": "session"}}
        return {"action": "accept" if decision is ApprovalDecision.accept else decision.value, "content": None}
    return {"decision": decision.value}


def default_decision(request: ApprovalRequest) -> ApprovalDecision:
    """With no policy anywhere: the official behaviour (commands and file changes accepted, the rest declined)."""
    if isinstance(request, CommandApproval | FileChangeApproval):
        return ApprovalDecision.accept
    return ApprovalDecision.decline


def other_answer(method: str, params: bytes) -> dict[str, Any] | None:
    """A schema-valid answer to a server request that is not an approval (``None``: answer with an error)."""
    if method == USER_INPUT:
        return {"answers": {}}  # nobody to ask: no answers
    if method == ELICITATION:
        return {"action": "decline", "content": None}
    if method == CURRENT_TIME:
        return {"currentTimeAt": int(time.time())}
    return None


# -- the actor ---------------------------------------------------------------------------------------------


class _Parked(msgspec.Struct):
    """A file-change request waiting for its item's paths."""

    request: ServerRequest
    connection: Any


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class ApprovalBroker(SupervisedActor):
    """Answers the engine's approval requests by policy, and its other server requests per their schemas."""

    use_daemon_thread = True

    def __init__(self, context: ChildContext | None = None, setup: ServiceSetup | None = None) -> None:
        super().__init__(context)
        self.setup = setup
        self._runner: CallRunner | None = None
        self._paths: collections.OrderedDict[tuple[str, str], tuple[str, ...]] = collections.OrderedDict()
        self._parked: dict[tuple[str, str], list[_Parked]] = {}
        self._seen_any = False

    def on_start(self) -> None:
        """Make the policies' runner (its threads start on demand)."""
        if self.setup is not None:
            self._runner = CallRunner("approvals", POLICY_LIMIT, self.setup.timers)

    def on_stop(self) -> None:
        """Decide the parked requests without their paths; refuse new policy calls."""
        for parked in [p for group in self._parked.values() for p in group]:
            self._handle(parked.request, parked.connection, None)
        self._parked.clear()
        if self._runner is not None:
            self._runner.close()

    def on_receive(self, message: Any) -> Any:
        """Answer one server request, or note a file-change item's paths."""
        match message:
            case HandleServerRequest(request=request, connection=connection):
                self._on_request(request, connection)
            case FileChangeSeen():
                self._on_seen(message)
            case _PathsWaitOver(key=key):
                for parked in self._parked.pop(key, []):
                    self._handle(parked.request, parked.connection, None)
            case _:
                raise TypeError(f"ApprovalBroker got an unknown message: {message!r}")
        return None

    # -- file-change paths ------------------------------------------------------------------------------------

    def _on_seen(self, seen: FileChangeSeen) -> None:
        self._seen_any = True
        key = (seen.thread_id, seen.item_id)
        parked = self._parked.pop(key, None)
        if parked is not None:
            for one in parked:
                self._handle(one.request, one.connection, seen.paths)
            return
        self._paths[key] = seen.paths
        self._paths.move_to_end(key)
        while len(self._paths) > PATHS_KEPT:
            self._paths.popitem(last=False)

    def _on_request(self, request: ServerRequest, connection: Any) -> None:
        if request.method != FILE_CHANGE:
            self._handle(request, connection, None)
            return
        try:
            ids = msgspec.json.decode(request.params, type=_FileChangeParams)
        except msgspec.DecodeError:
            self._handle(request, connection, None)
            return
        key = (ids.threadId, ids.itemId or "")
        paths = self._paths.pop(key, None)
        if paths is not None or not self._seen_any or self.setup is None:
            self._handle(request, connection, paths)
            return
        self._parked.setdefault(key, []).append(_Parked(request, connection))
        me = self.actor_ref

        def over() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                me.tell(_PathsWaitOver(key))

        self.setup.timers.call_later(PATHS_WAIT_S, over)

    # -- deciding ---------------------------------------------------------------------------------------------

    def _handle(self, request: ServerRequest, connection: Any, paths: tuple[str, ...] | None) -> None:
        method = request.method

        def reply(result: dict[str, Any]) -> None:
            with contextlib.suppress(TransportClosedError):
                connection.reply(request.id, result)

        try:
            typed = decode_request(method, request.params, paths)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            logger.warning("%s: malformed params (%s); declined", method, exc)
            typed = None
            if method in (COMMAND, FILE_CHANGE):
                reply({"decision": "decline"})
                return
            if method in (LEGACY_COMMAND, LEGACY_PATCH):
                reply({"decision": _LEGACY[ApprovalDecision.decline]})
                return
            if method == PERMISSIONS:
                reply({"permissions": {}, "scope": "turn"})
                return
        if typed is None:
            result = other_answer(method, request.params)
            if result is not None:
                reply(result)
                return
            if method in NO_CREDENTIALS:
                error = ReplyError(request.id, UNSUPPORTED_CODE, f"codex-actors cannot answer {method!r}")
            else:
                error = ReplyError.refusal(request)
            with contextlib.suppress(TransportClosedError):
                connection.reply_error(error.id, error.code, error.message)
            return
        chosen = self._policy_for(typed.thread_id)
        if chosen is None or self._runner is None:
            self._told("approval.requested", typed, None)
            decision = default_decision(typed)
            self._told_decision(typed, None, decision, "default", time.monotonic())
            reply(answer(method, typed, decision))
            return
        self._told("approval.requested", typed, chosen.name)
        self._decide(chosen, typed, method, reply)

    def _told(self, name: str, request: ApprovalRequest, policy: str | None, **fields: Any) -> None:
        """Tell telemetry the approval event ``name`` about ``request`` (``fields``: more metadata, ``wait_s``)."""
        if self.setup is None:
            return
        wait = fields.pop("wait_s", None)
        metadata = {
            "kind": _KINDS[type(request)],
            "thread_id": request.thread_id,
            "turn_id": request.turn_id,
            "policy": policy,
            **fields,
        }
        if wait is None:
            self.setup.telemetry(telemetry_event(name, metadata))
        else:
            self.setup.telemetry(telemetry_event(name, metadata, wait_s=wait))

    def _told_decision(
        self,
        request: ApprovalRequest,
        policy: str | None,
        decision: ApprovalDecision,
        source: str,
        started: float,
    ) -> None:
        """Tell telemetry how ``request`` was decided: approved, denied, or timed out (``source``)."""
        if source == "timeout":
            name = "approval.timeout"
        elif decision in (ApprovalDecision.accept, ApprovalDecision.accept_for_session):
            name = "approval.approved"
        else:
            name = "approval.denied"
        wait = time.monotonic() - started
        self._told(name, request, policy, decision=decision.value, source=source, wait_s=wait)

    def _policy_for(self, thread_id: str) -> ApprovalPolicy | None:
        setup = self.setup
        if setup is None:
            return None
        services = setup.thread_services(thread_id)
        if services is not None and services.approval_policy is not None:
            return as_policy(services.approval_policy)
        if setup.config.approval_policy is not None:
            return as_policy(setup.config.approval_policy)
        return None

    def _decide(
        self,
        chosen: ApprovalPolicy,
        request: ApprovalRequest,
        method: str,
        reply: Callable[[dict[str, Any]], None],
    ) -> None:
        assert self.setup is not None and self._runner is not None
        runner, setup = self._runner, self.setup
        timeout_s = setup.config.approval_timeout_s
        decide = chosen.decide
        fn: Callable[..., Any]
        if isinstance(decide, pykka.ActorRef):
            actor: pykka.ActorRef[Any] = decide

            def fn(req: ApprovalRequest) -> Any:
                return actor.ask(req, timeout=timeout_s)

        elif chosen.is_async:

            async def fn(req: ApprovalRequest) -> Any:
                return await decide(req)

        else:
            fn = decide
        started = time.monotonic()

        def failed(kind: str, detail: str) -> None:
            logger.warning(
                "approval policy %s %s on %s (thread %s): %s; declined",
                chosen.name,
                kind.replace("_", " "),
                method,
                request.thread_id,
                detail,
            )
            setup.telemetry(HandlerEvent("approvals", kind, chosen.name, request.thread_id, detail))
            source = "timeout" if kind == "timed_out" else "error"
            self._told_decision(request, chosen.name, ApprovalDecision.decline, source, started)
            reply(answer(method, request, ApprovalDecision.decline))

        def done(outcome: Outcome) -> None:
            if isinstance(outcome, Finished):
                value = outcome.value
                if hasattr(value, "__await__"):  # a plain function that returned a coroutine: await it
                    left = max(timeout_s - (time.monotonic() - started), 0.001)
                    runner.run(_awaited, (value,), timeout_s=left, done=done)
                    return
                decision = as_decision(value)
                if decision is None:
                    failed("invalid_decision", f"answered {value!r}, not an ApprovalDecision")
                else:
                    self._told_decision(request, chosen.name, decision, "policy", started)
                    reply(answer(method, request, decision))
            elif isinstance(outcome, Raised):
                error = outcome.error
                if isinstance(error, pykka.Timeout):
                    failed("timed_out", f"the actor did not answer within {timeout_s:g} s")
                else:
                    failed("raised", f"{type(error).__name__}: {error}")
            elif isinstance(outcome, TimedOut):
                failed("timed_out", f"no decision within {outcome.seconds:g} s")

        runner.run(fn, (request,), timeout_s=timeout_s, done=done)
