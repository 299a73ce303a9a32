"""Approval policies and the approval broker, without an engine.

The ready-made policies (``allow_commands`` by words, never across shell operators; ``allow_writes_under``
resolved, no ``..`` or symlink escapes), ``as_policy``, and the broker's answer to every server request the
engine can send, each checked against the engine's response type (the generated types of its JSON schema, decoded
strictly), including the requests the scripted model cannot trigger.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pykka
import pytest

from codex_actors import CodexConfig
from codex_actors._protocol import generated as g
from codex_actors._protocol.jsonrpc import ServerRequest, decode_message
from codex_actors.actors._approvals import PATHS_WAIT_S, ApprovalBroker, FileChangeSeen, file_change_seen
from codex_actors.actors._directory import ThreadDirectory, ThreadServices
from codex_actors.actors._messages import HandlerEvent, HandleServerRequest
from codex_actors.actors._services import ServiceSetup
from codex_actors.actors._timers import Timers
from codex_actors.approvals import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    CommandApproval,
    FileChangeApproval,
    McpToolApproval,
    PermissionsApproval,
    allow_all,
    allow_commands,
    allow_writes_under,
    as_decision,
    as_policy,
    deny_all,
    policy,
)

A, D = ApprovalDecision.accept, ApprovalDecision.decline


def command(script: str, *, wrapped: bool = True) -> CommandApproval:
    from codex_actors.actors._approvals import decode_request

    line = f"/bin/bash -lc {json.dumps(script)}" if wrapped else script
    params = json.dumps({"threadId": "t", "turnId": "u", "itemId": "i", "command": line}).encode()
    request = decode_request("item/commandExecution/requestApproval", params)
    assert isinstance(request, CommandApproval)
    return request


def change(*paths: str, known: bool = True, grant_root: str | None = None) -> FileChangeApproval:
    return FileChangeApproval(
        thread_id="t",
        turn_id="u",
        item_id="i",
        paths=paths,
        paths_known=known,
        reason=None,
        grant_root=grant_root,
        raw={},
    )


# -- decisions and policies -------------------------------------------------------------------------------------


def test_decisions_are_the_enum_or_its_string_values() -> None:
    assert [d.value for d in ApprovalDecision] == ["accept", "acceptForSession", "decline", "cancel"]
    assert as_decision("acceptForSession") is ApprovalDecision.accept_for_session
    assert as_decision(ApprovalDecision.cancel) is ApprovalDecision.cancel
    assert as_decision("yes") is None and as_decision(True) is None and as_decision(None) is None


def test_as_policy_wraps_functions_and_actors_and_keeps_policies() -> None:
    def mine(request: ApprovalRequest) -> str:
        return "accept"

    wrapped = as_policy(mine)
    assert isinstance(wrapped, ApprovalPolicy) and wrapped.ask == "untrusted" and "mine" in wrapped.name
    assert as_policy(allow_all) is allow_all
    decorated = policy(ask="on-request", name="mine")(mine)
    assert (decorated.ask, decorated.name, decorated(command("ls"))) == ("on-request", "mine", "accept")

    async def later(request: ApprovalRequest) -> str:
        return "decline"

    assert as_policy(later).is_async and not wrapped.is_async

    class Reviewer(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return "accept"

    ref = Reviewer.start()
    try:
        by_actor = as_policy(ref)
        assert not by_actor.is_async and by_actor(command("ls")) == "accept"
    finally:
        ref.stop()
    with pytest.raises(TypeError):
        ApprovalPolicy(42)  # type: ignore[arg-type]


def test_allow_all_and_deny_all() -> None:
    for request in (command("rm -rf x"), change("/x")):
        assert allow_all(request) is A and deny_all(request) is D


def test_a_command_is_split_into_words_once_unwrapped() -> None:
    request = command("touch 'a b.txt'")
    assert request.script == "touch 'a b.txt'" and request.argv == ("touch", "a b.txt")
    assert command("git status", wrapped=False).argv == ("git", "status")
    for unsafe in (
        "ls; rm -rf x",
        "ls && rm x",
        "ls | sh",
        "echo $(rm x)",
        "echo `rm x`",
        "ls > f",
        "rm *",
        "a\nb",
    ):
        assert command(unsafe).argv == (), unsafe


def test_allow_commands_matches_whole_words_and_nothing_else() -> None:
    git = allow_commands("git", ("ls", "-la"), "touch made.txt")
    assert git(command("git log --oneline")) is A
    assert git(command("git")) is A
    assert git(command("gitk")) is D
    assert git(command("ls -la /tmp")) is D or git(command("ls -la /tmp")) is A  # words after the prefix: any
    assert git(command("ls -la /tmp")) is A
    assert git(command("ls /tmp")) is D
    assert git(command("touch made.txt")) is A
    assert git(command("touch other.txt")) is D
    assert git(command("git log; rm -rf ~")) is D
    assert git(command("git log && curl x")) is D
    assert git(change("/x")) is D
    with pytest.raises(ValueError):
        allow_commands()
    with pytest.raises(ValueError):
        allow_commands("")


def test_allow_writes_under_resolves_paths(tmp_path: Path) -> None:
    root = tmp_path / "work"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    writes = allow_writes_under(root)
    assert writes(change(str(root / "a.txt"), str(root / "sub" / "b.txt"))) is A
    assert writes(change(str(root))) is A
    assert writes(change(str(root / "a.txt"), str(outside / "b.txt"))) is D  # every path must be under
    assert writes(change(str(root / ".." / "outside" / "x"))) is D  # no .. escape
    assert writes(change(str(root / "link" / "x"))) is D  # nor through a symbolic link
    assert writes(change(str(tmp_path / "work2" / "x"))) is D  # a sibling sharing the prefix
    assert writes(change("a.txt")) is D  # relative: unknown base
    assert writes(change(known=False)) is D
    assert writes(change()) is D
    assert writes(change(str(root / "a"), grant_root=str(tmp_path))) is D
    assert writes(change(str(root / "a"), grant_root=str(root / "sub"))) is A
    assert writes(command("touch a")) is D
    with pytest.raises(ValueError):
        allow_writes_under()


# -- the broker -------------------------------------------------------------------------------------------------


class FakeConnection:
    """Records answers (thread-safe)."""

    def __init__(self) -> None:
        self.answers: dict[Any, tuple[str, Any]] = {}
        self.cond = threading.Condition()

    def reply(self, request_id: Any, result: Any) -> None:
        with self.cond:
            self.answers[request_id] = ("result", result)
            self.cond.notify_all()

    def reply_error(self, request_id: Any, code: int, message: str) -> None:
        with self.cond:
            self.answers[request_id] = ("error", {"code": code, "message": message})
            self.cond.notify_all()

    def wait(self, request_id: Any, timeout: float = 5.0) -> tuple[str, Any]:
        with self.cond:
            assert self.cond.wait_for(lambda: request_id in self.answers, timeout), f"no answer to {request_id}"
            return self.answers[request_id]


class Broker:
    def __init__(self, config: CodexConfig) -> None:
        self.timers = Timers()
        self.directory = ThreadDirectory()
        self.events: list[Any] = []
        self.setup = ServiceSetup(config, self.directory, self.timers, self.events.append)
        self.ref = ApprovalBroker.start(None, self.setup)
        self.connection = FakeConnection()
        self._ids = iter(range(1, 10**6))

    def send(self, method: str, params: dict[str, Any]) -> int:
        request_id = next(self._ids)
        raw = msgspec.Raw(json.dumps(params).encode())
        connection: Any = self.connection
        self.ref.tell(HandleServerRequest(ServerRequest(request_id, method, raw), connection))
        return request_id

    def ask(self, method: str, params: dict[str, Any], timeout: float = 5.0) -> tuple[str, Any]:
        return self.connection.wait(self.send(method, params), timeout)

    def handler_events(self) -> list[HandlerEvent]:
        """What went wrong in user code (the broker also tells telemetry events, left out here)."""
        return [event for event in self.events if isinstance(event, HandlerEvent)]

    def stop(self) -> None:
        self.ref.stop()
        self.timers.close()


@pytest.fixture
def broker_factory() -> Iterator[Any]:
    made: list[Broker] = []

    def make(**fields: Any) -> Broker:
        broker = Broker(CodexConfig(**fields))
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.stop()


def valid(result: Any, response_type: type[Any]) -> Any:
    """``result`` decoded strictly into the engine's response type (the schema's own check)."""
    return msgspec.json.decode(json.dumps(result).encode(), type=response_type, strict=True)


CMD = {"threadId": "t", "turnId": "u", "itemId": "i", "startedAtMs": 1, "command": "/bin/bash -lc 'ls'"}
FILE = {"threadId": "t", "turnId": "u", "itemId": "i", "startedAtMs": 1, "reason": None, "grantRoot": None}
PERMS = {
    "threadId": "t",
    "turnId": "u",
    "itemId": "i",
    "startedAtMs": 1,
    "cwd": "/w",
    "permissions": {"network": {"enabled": True}},
}
MCP = {
    "threadId": "t",
    "turnId": "u",
    "serverName": "fake",
    "mode": "form",
    "message": 'Allow the fake MCP server to run tool "echo"?',
    "requestedSchema": {"type": "object", "properties": {}},
    "_meta": {"codex_approval_kind": "mcp_tool_call", "persist": ["session", "always"], "tool_params": {"x": 1}},
}
LEGACY_CMD = {"conversationId": "t", "callId": "c", "command": ["ls", "-la"], "cwd": "/w", "parsedCmd": []}
LEGACY_PATCH = {"conversationId": "t", "callId": "c", "fileChanges": {"/w/a": {"type": "add", "content": "x"}}}


def test_with_no_policy_commands_and_file_changes_are_accepted_the_rest_declined(broker_factory: Any) -> None:
    broker = broker_factory()
    _, result = broker.ask("item/commandExecution/requestApproval", CMD)
    assert valid(result, g.CommandExecutionRequestApprovalResponse).decision == "accept"
    _, result = broker.ask("item/fileChange/requestApproval", FILE)
    assert valid(result, g.FileChangeRequestApprovalResponse).decision == "accept"
    _, result = broker.ask("execCommandApproval", LEGACY_CMD)
    assert valid(result, g.ExecCommandApprovalResponse).decision == "approved"
    _, result = broker.ask("applyPatchApproval", LEGACY_PATCH)
    assert valid(result, g.ApplyPatchApprovalResponse).decision == "approved"
    _, result = broker.ask("item/permissions/requestApproval", PERMS)
    assert valid(result, g.PermissionsRequestApprovalResponse).permissions == g.GrantedPermissionProfile()
    _, result = broker.ask("mcpServer/elicitation/request", MCP)
    assert valid(result, g.McpServerElicitationRequestResponse).action == "decline"


@pytest.mark.parametrize("decision", list(ApprovalDecision))
def test_every_decision_is_a_valid_answer_to_every_approval(
    broker_factory: Any, decision: ApprovalDecision
) -> None:
    seen: list[ApprovalRequest] = []

    def decide(request: ApprovalRequest) -> str:
        seen.append(request)
        return decision.value

    broker = broker_factory(approval_policy=decide)
    _, result = broker.ask("item/commandExecution/requestApproval", CMD)
    assert valid(result, g.CommandExecutionRequestApprovalResponse).decision == decision.value
    _, result = broker.ask("item/fileChange/requestApproval", FILE)
    assert valid(result, g.FileChangeRequestApprovalResponse).decision == decision.value
    _, result = broker.ask("execCommandApproval", LEGACY_CMD)
    legacy = {"accept": "approved", "acceptForSession": "approved_for_session", "cancel": "abort"}
    valid(result, g.ExecCommandApprovalResponse)
    assert legacy.get(decision.value, "denied") in json.dumps(result["decision"])
    _, result = broker.ask("applyPatchApproval", LEGACY_PATCH)
    valid(result, g.ApplyPatchApprovalResponse)
    assert legacy.get(decision.value, "denied") in json.dumps(result["decision"])
    _, result = broker.ask("item/permissions/requestApproval", PERMS)
    granted = valid(result, g.PermissionsRequestApprovalResponse)
    accepted = decision in (ApprovalDecision.accept, ApprovalDecision.accept_for_session)
    assert (granted.permissions.network is not None) == accepted
    assert result["scope"] == ("session" if decision is ApprovalDecision.accept_for_session else "turn")
    _, result = broker.ask("mcpServer/elicitation/request", MCP)
    action = valid(result, g.McpServerElicitationRequestResponse).action
    assert action == ("accept" if accepted else decision.value)
    kinds = [type(request) for request in seen]
    assert kinds == [
        CommandApproval,
        FileChangeApproval,
        CommandApproval,
        FileChangeApproval,
        PermissionsApproval,
        McpToolApproval,
    ]
    legacy_command, legacy_patch = seen[2], seen[3]
    assert isinstance(legacy_command, CommandApproval) and legacy_command.argv == ("ls", "-la")
    assert isinstance(legacy_patch, FileChangeApproval) and legacy_patch.paths == ("/w/a",)
    mcp = seen[5]
    assert isinstance(mcp, McpToolApproval)
    assert (mcp.server, mcp.tool, mcp.arguments, mcp.turn_id) == ("fake", "echo", {"x": 1}, "u")


def test_the_other_server_requests_get_schema_valid_answers(broker_factory: Any) -> None:
    broker = broker_factory(approval_policy=allow_all)
    questions = {"threadId": "t", "turnId": "u", "itemId": "i", "isBlocking": True, "questions": []}
    kind, result = broker.ask("item/tool/requestUserInput", questions)
    assert kind == "result" and valid(result, g.ToolRequestUserInputResponse).answers == {}
    form = {**MCP, "_meta": None}
    kind, result = broker.ask(
        "mcpServer/elicitation/request", form
    )  # not a tool approval: even allow_all declines
    assert kind == "result" and valid(result, g.McpServerElicitationRequestResponse).action == "decline"
    url = {"threadId": "t", "serverName": "s", "mode": "url", "elicitationId": "e", "message": "m", "url": "u"}
    assert broker.ask("mcpServer/elicitation/request", url)[1] == {"action": "decline", "content": None}
    before = int(time.time())
    kind, result = broker.ask("currentTime/read", {})
    assert kind == "result" and before <= valid(result, g.CurrentTimeReadResponse).current_time_at <= time.time()
    for method in ("account/chatgptAuthTokens/refresh", "attestation/generate", "some/newRequest"):
        kind, error = broker.ask(method, {"threadId": "t"})
        assert kind == "error" and isinstance(error["code"], int) and error["message"], method
    kind, result = broker.ask("item/commandExecution/requestApproval", {"no": "threadId"})  # malformed: declined
    assert (kind, result) == ("result", {"decision": "decline"})


def test_a_policy_that_raises_times_out_or_answers_nonsense_declines(broker_factory: Any) -> None:
    def broken(request: ApprovalRequest) -> str:
        raise ValueError("boom")

    release = threading.Event()

    def slow(request: ApprovalRequest) -> str:
        release.wait(5)
        return "accept"

    try:
        for decide, kind in ((broken, "raised"), (slow, "timed_out"), (lambda r: 1, "invalid_decision")):
            broker = broker_factory(approval_policy=decide, approval_timeout_s=0.2)
            assert broker.ask("item/commandExecution/requestApproval", CMD)[1] == {"decision": "decline"}
            _, result = broker.ask("mcpServer/elicitation/request", MCP)
            assert result["action"] == "decline"
            assert [(e.service, e.kind, e.thread_id) for e in broker.handler_events()] == [
                ("approvals", kind, "t")
            ] * 2
    finally:
        release.set()


def test_async_policies_and_returned_coroutines_are_awaited(broker_factory: Any) -> None:
    async def later(request: ApprovalRequest) -> ApprovalDecision:
        await asyncio.sleep(0.01)
        return ApprovalDecision.accept_for_session

    broker = broker_factory(approval_policy=later)
    assert broker.ask("item/commandExecution/requestApproval", CMD)[1] == {"decision": "acceptForSession"}

    async def decide(request: ApprovalRequest) -> str:
        return "cancel"

    broker = broker_factory(approval_policy=lambda request: decide(request))
    assert broker.ask("item/commandExecution/requestApproval", CMD)[1] == {"decision": "cancel"}

    async def forever(request: ApprovalRequest) -> str:
        await asyncio.sleep(60)
        return "accept"

    broker = broker_factory(approval_policy=forever, approval_timeout_s=0.2)
    assert broker.ask("item/commandExecution/requestApproval", CMD)[1] == {"decision": "decline"}
    assert [e.kind for e in broker.handler_events()] == ["timed_out"]


def test_slow_policies_do_not_hold_up_other_requests(broker_factory: Any) -> None:
    release = threading.Event()

    def person(request: ApprovalRequest) -> str:
        if isinstance(request, CommandApproval) and request.thread_id == "slow":
            release.wait(10)
        return "accept"

    broker = broker_factory(approval_policy=person)
    waiting = [
        broker.send("item/commandExecution/requestApproval", {**CMD, "threadId": "slow"}) for _ in range(10)
    ]
    try:
        assert broker.ask("item/commandExecution/requestApproval", CMD, timeout=2)[1] == {"decision": "accept"}
        assert all(request_id not in broker.connection.answers for request_id in waiting)
    finally:
        release.set()
    for request_id in waiting:
        assert broker.connection.wait(request_id)[1] == {"decision": "accept"}


def test_the_threads_own_policy_comes_before_the_clients(broker_factory: Any) -> None:
    broker = broker_factory(approval_policy=deny_all)
    entry = broker.directory.entry("mine")
    entry.services = ThreadServices({}, allow_all)
    assert (
        broker.ask("item/commandExecution/requestApproval", {**CMD, "threadId": "mine"})[1]["decision"] == "accept"
    )
    assert broker.ask("item/commandExecution/requestApproval", CMD)[1]["decision"] == "decline"
    del entry


def test_file_change_paths_come_from_the_item_seen_before(broker_factory: Any, tmp_path: Path) -> None:
    seen: list[FileChangeApproval] = []

    def record(request: ApprovalRequest) -> ApprovalDecision:
        assert isinstance(request, FileChangeApproval)
        seen.append(request)
        decision: ApprovalDecision = allow_writes_under(tmp_path)(request)
        return decision

    broker = broker_factory(approval_policy=record)
    # Never told any item: decided at once, paths unknown (allow_writes_under declines).
    assert broker.ask("item/fileChange/requestApproval", FILE)[1] == {"decision": "decline"}
    assert not seen[-1].paths_known
    # Told first (as the reader does: the item/started notification precedes the request).
    note = {
        "method": "item/started",
        "params": {
            "threadId": "t",
            "turnId": "u",
            "startedAtMs": 1,
            "item": {
                "type": "fileChange",
                "id": "i",
                "status": "inProgress",
                "changes": [
                    {"path": str(tmp_path / "a"), "kind": {"type": "add"}, "diff": "x"},
                    {"path": str(tmp_path / "b"), "kind": {"type": "update", "move_path": "/etc/c"}, "diff": ""},
                ],
            },
        },
    }
    told = file_change_seen(decode_message(json.dumps(note).encode()))
    assert told == FileChangeSeen("t", "i", (str(tmp_path / "a"), str(tmp_path / "b"), "/etc/c"))
    broker.ref.tell(told)
    assert broker.ask("item/fileChange/requestApproval", FILE)[1] == {"decision": "decline"}  # the move escapes
    assert seen[-1].paths == told.paths and seen[-1].paths_known
    # Told after the request: the request waits for it.
    request_id = broker.send("item/fileChange/requestApproval", {**FILE, "itemId": "j"})
    time.sleep(0.1)
    assert request_id not in broker.connection.answers
    broker.ref.tell(FileChangeSeen("t", "j", (str(tmp_path / "ok"),)))
    assert broker.connection.wait(request_id)[1] == {"decision": "accept"}
    # Never told: decided without paths once the wait is over.
    started = time.monotonic()
    assert broker.ask("item/fileChange/requestApproval", {**FILE, "itemId": "k"}, timeout=PATHS_WAIT_S + 3)[1] == {
        "decision": "decline"
    }
    assert time.monotonic() - started >= PATHS_WAIT_S * 0.9
    assert file_change_seen(decode_message(b'{"method":"turn/started","params":{"threadId":"t"}}')) is None
