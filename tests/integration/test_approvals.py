"""Approval policies on the REAL engine against the scripted model.

Threads start under ``untrusted`` approvals (an approval policy on ``thread_start``) in a ``workspace-write``
sandbox, so the engine asks the client before it runs ``touch made.txt`` or applies a patch adding a file; the
file existing afterwards is the proof it ran. Checked: accept runs it, decline does not (the turn goes on),
cancel ends the turn; a policy that raises or times out declines and telemetry counts it; async policies and
actor policies work; a slow policy on one thread does not hold up another thread's turn; ``acceptForSession``
stops the engine asking again (commands, MCP tools); MCP tool approvals reach the policy as
:class:`McpToolApproval`; ``allow_writes_under`` sees a patch's paths (once the reader tells the broker the
``fileChange`` items: skipped until then).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from codex_actors import Codex, CodexConfig, McpServer, Sandbox
from codex_actors.actors import GetCounts
from codex_actors.actors._supervisor import GetChild
from codex_actors.approvals import (
    ApprovalDecision,
    ApprovalRequest,
    CommandApproval,
    FileChangeApproval,
    McpToolApproval,
    allow_all,
    allow_commands,
    allow_writes_under,
    deny_all,
)
from codex_actors.testing import OfflineEngine, WireTap, apply_patch, exec_command, message, reply, tool_call
from tests.support import fakes
from tests.support.waiting import ask

#: The fake MCP server of tests/support/fakes, as the thread's server ``fake`` (its tools: ``mcp__fake``).
FAKE_MCP = {"fake": McpServer(sys.executable, [str(Path(fakes.__file__).with_name("mcp_server.py"))])}
PATCH = "*** Begin Patch\n*** Add File: patched.txt\n+hello\n*** End Patch\n"


@dataclasses.dataclass
class Rig:
    offline: OfflineEngine
    tap: WireTap

    def config(self, **fields: Any) -> CodexConfig:
        return dataclasses.replace(self.offline.config, codex_bin=self.tap.codex_bin, **fields)

    @property
    def workspace(self) -> Path:
        return Path(self.offline.workspace)

    def answers(self, method: str) -> list[Any]:
        """What the client answered to the engine's ``method`` requests (results, or errors)."""
        answers = [self.tap.response_to(request) for request in self.tap.received(method)]
        return [None if a is None else a.get("result", a.get("error")) for a in answers]


@pytest.fixture
def rig(offline: OfflineEngine) -> Iterator[Rig]:
    with WireTap() as tap:
        yield Rig(offline, tap)


def counts(codex: Codex) -> dict[str, int]:
    telemetry = ask(codex.supervisor, GetChild("telemetry"))
    assert telemetry is not None
    result: dict[str, int] = ask(telemetry, GetCounts())
    return result


def touch_turn(rig: Rig) -> None:
    rig.offline.model.enqueue(reply(exec_command("touch made.txt")), message("done"))


def test_an_accepted_command_runs_and_a_declined_one_does_not(rig: Rig) -> None:
    seen: list[ApprovalRequest] = []

    def accept(request: ApprovalRequest) -> str:
        seen.append(request)
        return "accept"

    touch_turn(rig)
    touch_turn(rig)
    with Codex(rig.config()) as codex:
        accepting = codex.thread_start(approval_policy=accept, sandbox=Sandbox.workspace_write)
        assert accepting.run("go").final_response == "done"
        assert (rig.workspace / "made.txt").exists()
        (request,) = seen
        assert isinstance(request, CommandApproval)
        assert request.thread_id == accepting.id
        assert request.argv == ("touch", "made.txt")
        assert request.item_id and request.turn_id
        (rig.workspace / "made.txt").unlink()

        declining = codex.thread_start(approval_policy=deny_all, sandbox=Sandbox.workspace_write)
        assert declining.run("go").final_response == "done"  # the turn went on; the model was told
        assert not (rig.workspace / "made.txt").exists()
    started = [sent["params"] for sent in rig.tap.sent("thread/start")]
    assert [(p["approvalPolicy"], p["approvalsReviewer"]) for p in started] == [("untrusted", "user")] * 2
    assert rig.answers("item/commandExecution/requestApproval") == [
        {"decision": "accept"},
        {"decision": "decline"},
    ]


def test_allow_commands_accepts_by_prefix(rig: Rig) -> None:
    rig.offline.model.enqueue(reply(exec_command("touch made.txt")), reply(exec_command("touch other.txt")))
    rig.offline.model.enqueue(message("done"))
    with Codex(rig.config(approval_policy=allow_commands("touch made.txt"))) as codex:
        thread = codex.thread_start(sandbox=Sandbox.workspace_write)  # the client's policy
        assert thread.run("go").final_response == "done"
    assert (rig.workspace / "made.txt").exists()
    assert not (rig.workspace / "other.txt").exists()


def test_a_patch_is_applied_when_accepted_and_not_when_declined(rig: Rig) -> None:
    rig.offline.model.enqueue(reply(apply_patch(PATCH)), message("done"))
    rig.offline.model.enqueue(reply(apply_patch(PATCH)), message("done"))
    seen: list[ApprovalRequest] = []

    def record(request: ApprovalRequest) -> ApprovalDecision:
        seen.append(request)
        return ApprovalDecision.decline

    with Codex(rig.config()) as codex:
        declining = codex.thread_start(approval_policy=record, sandbox=Sandbox.workspace_write)
        assert declining.run("go").final_response == "done"
        assert not (rig.workspace / "patched.txt").exists()
        (request,) = seen
        assert isinstance(request, FileChangeApproval)
        assert request.thread_id == declining.id and request.item_id

        accepting = codex.thread_start(approval_policy=allow_all, sandbox=Sandbox.workspace_write)
        assert accepting.run("go").final_response == "done"
        assert (rig.workspace / "patched.txt").read_text() == "hello\n"
    assert rig.answers("item/fileChange/requestApproval") == [{"decision": "decline"}, {"decision": "accept"}]


def test_cancel_ends_the_turn(rig: Rig) -> None:
    rig.offline.model.enqueue(reply(exec_command("touch made.txt")), message("never asked for"))
    with Codex(rig.config()) as codex:
        thread = codex.thread_start(approval_policy=lambda r: "cancel", sandbox=Sandbox.workspace_write)
        result = thread.run("go")
        assert result.status.value == "interrupted"
    assert not (rig.workspace / "made.txt").exists()
    assert len(rig.offline.model.requests) == 1  # the model was not asked again


def test_a_policy_that_raises_or_times_out_declines_and_is_counted(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="codex_actors.approvals")
    touch_turn(rig)
    touch_turn(rig)
    touch_turn(rig)
    release = threading.Event()

    def broken(request: ApprovalRequest) -> str:
        raise RuntimeError("no policy today")

    def slow(request: ApprovalRequest) -> str:
        release.wait(10)
        return "accept"

    try:
        with Codex(rig.config(approval_timeout_s=0.5)) as codex:
            raising = codex.thread_start(approval_policy=broken, sandbox=Sandbox.workspace_write)
            assert raising.run("go").final_response == "done"
            assert not (rig.workspace / "made.txt").exists()
            timing_out = codex.thread_start(approval_policy=slow, sandbox=Sandbox.workspace_write)
            assert timing_out.run("go").final_response == "done"
            assert not (rig.workspace / "made.txt").exists()
            invalid = codex.thread_start(approval_policy=lambda r: "yes please", sandbox=Sandbox.workspace_write)
            assert invalid.run("go").final_response == "done"
            assert not (rig.workspace / "made.txt").exists()
            seen = counts(codex)
            assert seen["approvals.raised"] == 1
            assert seen["approvals.timed_out"] == 1
            assert seen["approvals.invalid_decision"] == 1
    finally:
        release.set()
    warnings = [r.getMessage() for r in caplog.records if r.name == "codex_actors.approvals"]
    assert any("no policy today" in w and "declined" in w for w in warnings)
    assert any("timed out" in w for w in warnings)
    assert rig.answers("item/commandExecution/requestApproval") == [{"decision": "decline"}] * 3


def test_an_async_policy_and_an_actor_policy_decide(rig: Rig) -> None:
    touch_turn(rig)
    touch_turn(rig)

    async def later(request: ApprovalRequest) -> ApprovalDecision:
        await asyncio.sleep(0.05)
        return ApprovalDecision.accept

    class Reviewer(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            assert isinstance(message, CommandApproval)
            return "decline"

    reviewer = Reviewer.start()
    try:
        with Codex(rig.config()) as codex:
            thread = codex.thread_start(approval_policy=later, sandbox=Sandbox.workspace_write)
            assert thread.run("go").final_response == "done"
            assert (rig.workspace / "made.txt").exists()
            (rig.workspace / "made.txt").unlink()
            by_actor = codex.thread_start(approval_policy=reviewer, sandbox=Sandbox.workspace_write)
            assert by_actor.run("go").final_response == "done"
            assert not (rig.workspace / "made.txt").exists()
    finally:
        reviewer.stop()


def test_a_slow_policy_on_one_thread_does_not_hold_up_another_threads_turn(rig: Rig) -> None:
    # The model answers in order: the slow thread's command, the other thread's reply, the slow thread's end.
    rig.offline.model.enqueue(reply(exec_command("touch made.txt")), message("quick"), message("done"))
    asked = threading.Event()
    release = threading.Event()

    def person(request: ApprovalRequest) -> str:
        asked.set()
        release.wait(20)
        return "accept"

    with Codex(rig.config()) as codex:
        slow = codex.thread_start(approval_policy=person, sandbox=Sandbox.workspace_write)
        results: list[Any] = []
        runner = threading.Thread(target=lambda: results.append(slow.run("go")), daemon=True)
        runner.start()
        try:
            assert asked.wait(10)
            other = codex.thread_start(approval_policy=allow_all)
            assert other.run("hi").final_response == "quick"
            assert runner.is_alive()  # still waiting for the person
        finally:
            release.set()
        runner.join(20)
        assert results and results[0].final_response == "done"
    assert (rig.workspace / "made.txt").exists()


@pytest.mark.parametrize("decision", ["accept", "decline"])
def test_an_mcp_tool_call_is_decided_by_the_policy(rig: Rig, decision: str) -> None:
    rig.offline.model.enqueue(reply(tool_call("echo", {"text": "hi"}, namespace="mcp__fake")), message("done"))
    seen: list[ApprovalRequest] = []

    def decide(request: ApprovalRequest) -> str:
        seen.append(request)
        return decision

    with Codex(rig.config()) as codex:
        thread = codex.thread_start(approval_policy=decide, mcp_servers=FAKE_MCP)
        assert thread.run("go").final_response == "done"
    (request,) = seen
    assert isinstance(request, McpToolApproval)
    assert (request.server, request.tool, request.arguments) == ("fake", "echo", {"text": "hi"})
    output = str(rig.offline.model.requests[1].tool_output())
    assert ("echo: hi" in output) == (decision == "accept")


def test_allow_writes_under_sees_the_patchs_paths(rig: Rig) -> None:
    inside = "*** Begin Patch\n*** Add File: inside/ok.txt\n+ok\n*** End Patch\n"
    outside = "*** Begin Patch\n*** Add File: elsewhere/no.txt\n+no\n*** End Patch\n"
    rig.offline.model.enqueue(reply(apply_patch(inside)), reply(apply_patch(outside)), message("done"))
    seen: list[FileChangeApproval] = []
    writes = allow_writes_under(rig.workspace / "inside")

    def record(request: ApprovalRequest) -> Any:
        assert isinstance(request, FileChangeApproval)
        seen.append(request)
        return writes(request)

    with Codex(rig.config()) as codex:
        thread = codex.thread_start(approval_policy=record, sandbox=Sandbox.workspace_write)
        assert thread.run("go").final_response == "done"
    assert (rig.workspace / "inside" / "ok.txt").read_text() == "ok\n"
    assert not (rig.workspace / "elsewhere" / "no.txt").exists()
    assert [request.paths_known for request in seen] == [True, True]
    assert [Path(request.paths[0]).name for request in seen] == ["ok.txt", "no.txt"]


def test_accept_for_session_stops_the_engine_asking_again(rig: Rig) -> None:
    touch_turn(rig)
    touch_turn(rig)
    seen: list[ApprovalRequest] = []

    def once(request: ApprovalRequest) -> ApprovalDecision:
        seen.append(request)
        return ApprovalDecision.accept_for_session

    with Codex(rig.config()) as codex:
        thread = codex.thread_start(approval_policy=once, sandbox=Sandbox.workspace_write)
        assert thread.run("go").final_response == "done"
        (rig.workspace / "made.txt").unlink()
        assert thread.run("again").final_response == "done"
    assert (rig.workspace / "made.txt").exists()
    assert len(seen) == 1


def test_an_mcp_tool_accepted_for_the_session_is_not_asked_about_again(rig: Rig) -> None:
    calls = [reply(tool_call("echo", {"text": text}, namespace="mcp__fake")) for text in ("one", "two")]
    rig.offline.model.enqueue(*calls, message("done"))
    seen: list[ApprovalRequest] = []

    def once(request: ApprovalRequest) -> ApprovalDecision:
        seen.append(request)
        return ApprovalDecision.accept_for_session

    with Codex(rig.config()) as codex:
        thread = codex.thread_start(approval_policy=once, mcp_servers=FAKE_MCP)
        assert thread.run("go").final_response == "done"
    assert len(seen) == 1
    assert "echo: two" in str(rig.offline.model.requests[2].tool_output())
