"""What opening a thread sends for its services, and what a resume on a restarted engine sends again.

On the REAL engine + scripted model, recorded by a ``WireTap``: ``thread_start(tools=..., approval_policy=...,
mcp_servers=...)`` announces the client's and the thread's tools as ``dynamicTools``, routes approvals to the
client (``untrusted``, reviewer ``user``) and puts the MCP servers in the thread's ``config``; after the engine
is killed, the runtime's ``thread/resume`` sends the approval settings and the MCP servers again. Bad values are
refused naming the argument, before anything is sent; a fork answers with its parent's tools and policy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_actors import AsyncCodex, Codex
from codex_actors._mcp import McpServer
from codex_actors._tool import tool
from codex_actors.errors import InvalidInputError
from codex_actors.testing import OfflineEngine, WireTap, message
from tests.support.waiting import kill_and_wait, wait_until

FAKE_MCP = Path(__file__).resolve().parents[1] / "support" / "fakes" / "mcp_server.py"


@tool
def everywhere(text: str) -> str:
    """A client-level tool."""
    return text


@tool
def mine(count: int) -> int:
    """A thread-level tool."""
    return count


def accept_all(request: Any) -> str:
    """A policy: accept everything."""
    return "accept"


@pytest.fixture
def rig(offline: OfflineEngine) -> Iterator[tuple[Codex, WireTap]]:
    with WireTap() as tap:
        config = dataclasses.replace(offline.config, codex_bin=tap.codex_bin, tools=[everywhere], max_restarts=10)
        with Codex(config) as codex:
            yield codex, tap


def test_thread_start_announces_tools_routes_approvals_and_adds_mcp_servers(
    rig: tuple[Codex, WireTap], offline: OfflineEngine
) -> None:
    codex, tap = rig
    server = McpServer(sys.executable, (str(FAKE_MCP),))
    thread = codex.thread_start(tools=[mine], approval_policy=accept_all, mcp_servers={"fake": server})
    (sent,) = tap.sent("thread/start")
    params = sent["params"]
    assert [spec["name"] for spec in params["dynamicTools"]] == ["everywhere", "mine"]
    assert params["dynamicTools"][1] == mine.spec()
    assert (params["approvalPolicy"], params["approvalsReviewer"]) == ("untrusted", "user")
    assert params["config"]["mcp_servers"]["fake"]["command"] == sys.executable
    entry = codex._client.runtime.directory.find(thread.id)
    assert entry is not None and entry.services is not None
    assert list(entry.services.tools) == ["mine"]

    offline.model.enqueue(message("first"), message("after the restart"))
    assert thread.run("one").final_response == "first"
    pid = codex._client.runtime.connection().status().pid
    assert pid is not None
    kill_and_wait(pid)
    wait_until(lambda: codex._client.runtime.connection().status().pid not in (None, pid), "a new engine", 20)
    assert thread.run("two").final_response == "after the restart"
    resumes = [sent["params"] for sent in tap.sent("thread/resume") if sent["params"]["threadId"] == thread.id]
    assert resumes, "the runtime resumed the thread on the new engine"
    assert (resumes[-1]["approvalPolicy"], resumes[-1]["approvalsReviewer"]) == ("untrusted", "user")
    assert resumes[-1]["config"]["mcp_servers"]["fake"]["command"] == sys.executable


def test_a_client_policy_applies_to_new_threads_and_approval_mode_alone_is_unchanged(
    offline: OfflineEngine,
) -> None:
    with WireTap() as tap:
        plain = dataclasses.replace(offline.config, codex_bin=tap.codex_bin)
        with Codex(plain) as codex:
            codex.thread_start()
        with Codex(dataclasses.replace(plain, approval_policy=accept_all)) as codex:
            codex.thread_start()
        official, with_policy = (sent["params"] for sent in tap.sent("thread/start"))
    assert (official["approvalPolicy"], official["approvalsReviewer"]) == ("on-request", "auto_review")
    assert "dynamicTools" not in official
    assert (with_policy["approvalPolicy"], with_policy["approvalsReviewer"]) == ("untrusted", "user")


@pytest.mark.parametrize(
    ("tools", "field"),
    [
        ([lambda: None], "tools[0]"),
        ([mine, mine], "tools[1]"),
        (mine, "tools"),
    ],
)
def test_bad_tools_are_refused_naming_the_argument_before_anything_is_sent(
    rig: tuple[Codex, WireTap], tools: Any, field: str
) -> None:
    codex, tap = rig
    with pytest.raises(InvalidInputError) as raised:
        codex.thread_start(tools=tools)
    assert raised.value.field == field
    assert tap.sent("thread/start") == []


def test_a_fork_answers_with_its_parents_tools_and_policy(
    rig: tuple[Codex, WireTap], offline: OfflineEngine
) -> None:
    codex, _ = rig
    parent = codex.thread_start(tools=[mine], approval_policy=accept_all)
    offline.model.enqueue(message("first"))
    parent.run("one")
    child = codex.thread_fork(parent.id)
    directory = codex._client.runtime.directory
    parent_entry, child_entry = directory.find(parent.id), directory.find(child.id)
    assert parent_entry is not None and child_entry is not None and child_entry.services is not None
    assert parent_entry.services is not None
    assert child_entry.services.tools == parent_entry.services.tools
    assert child_entry.services.approval_policy is parent_entry.services.approval_policy


def test_the_async_client_sends_and_keeps_the_same(offline: OfflineEngine) -> None:
    async def scenario(tap: WireTap) -> None:
        config = dataclasses.replace(offline.config, codex_bin=tap.codex_bin, tools=[everywhere])
        async with AsyncCodex(config) as codex:
            thread = await codex.thread_start(tools=[mine], approval_policy=accept_all)
            (sent,) = tap.sent("thread/start")
            assert [spec["name"] for spec in sent["params"]["dynamicTools"]] == ["everywhere", "mine"]
            assert sent["params"]["approvalsReviewer"] == "user"
            runtime = await codex._runtime.start()
            entry = runtime.directory.find(thread.id)
            assert entry is not None and entry.services is not None and list(entry.services.tools) == ["mine"]
            with pytest.raises(InvalidInputError):
                await codex.thread_resume(thread.id, tools=[everywhere, everywhere])

    with WireTap() as tap:
        asyncio.run(scenario(tap))
